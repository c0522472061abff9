"""The serving core under every wire format: checks that need the model, admission, prompt
preparation (history window, FIM), fan-out of `n` choices, and accounting.

A wire module decodes its request into a ChatRequest or TextRequest and opens
`serving.chat(...)` / `serving.complete(...)`: everything before the first token (not ready,
unknown model, overload, a prompt too long — ContextLengthExceeded, with both token counts —,
an engine refusal) raises ApiError there, so the wire can still answer with a proper status;
then it iterates the Run's events and encodes them in its own framing. An output limit above
what the window leaves after the prompt is clamped to it, never refused.
"""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
from typing import TYPE_CHECKING, AsyncIterator, Awaitable, Callable, Optional

from gateway.admission import Admission, Overloaded
from gateway.engines.base import (
    Engine,
    EngineError,
    GenerationRequest,
    PromptTooLongError,
    SamplingParams,
    TokenLogprob,
)
from gateway.errors import ApiError, ContextLengthExceeded, bad_request
from gateway.knowledge.retrieval import Knowledge
from gateway.prompts.fim import FimFamily, render_fim
from gateway.prompts.history import count_prompt, fit_history, fits_by_bytes
from gateway.serving.requests import ChatRequest, TextRequest
from gateway.serving.retrieval import augment
from gateway.serving.run import Choice, Run, engine_api_error, too_long
from gateway.telemetry import Metrics, RequestStats

if TYPE_CHECKING:
    from gateway.settings import Settings


@dataclasses.dataclass
class PreparedChat:
    choices: list[Choice]
    dropped: int  # history messages left out to fit the window
    window: Optional[int]  # the history window used (tokens), for a request that asked for one
    prompt_tokens: Optional[int]  # the prompt as counted while fitting it, where it was


class Serving:
    def __init__(self, settings: "Settings", engine: Engine, metrics: Metrics):
        self.settings = settings
        self.engine = engine
        self.metrics = metrics
        self.stats = RequestStats()
        self.status = "loading"  # loading | ready | dead | failed
        self.fim_family: Optional[FimFamily] = None
        self.knowledge: Optional[Knowledge] = None  # the knowledge bases, for retrieval
        # More at once than the engine runs in parallel would only queue inside it, where a
        # queue is neither bounded nor visible: the engine's capacity is the default and the cap.
        capacity = engine.capacity
        self.admission = Admission(
            min(settings.admission.max_concurrency or capacity, capacity),
            settings.admission.max_queue,
            settings.admission.queue_timeout_s,
            settings.admission.retry_after_s,
        )

    # ---- the two entry points -----------------------------------------------------------
    @contextlib.asynccontextmanager
    async def chat(
        self, req: ChatRequest, request_id: str, announce: Optional[Callable[[Run], Awaitable[None]]] = None
    ) -> AsyncIterator[Run]:
        """`announce`, where retrieval found sources, is awaited with the Run before the engine
        starts: a stream can send the sources while the prompt is read (seconds on a CPU), and
        then answers what fails later in the stream, as an error event."""
        self.check_ready()
        self.check_model(req.model)
        sources = []
        if req.retrieval is not None:
            req, sources = await augment(self.knowledge, req)
        sequences = self.check_sequences(1, req.n)
        async with self._admitted(sequences):
            prepared = await self._prepare_chat(req, request_id)
            run = Run(self, prepared.choices)
            run.dropped_messages = prepared.dropped
            run.history_window = prepared.window
            run.counted_prompt_tokens = prepared.prompt_tokens
            run.sources = sources
            if announce is not None and sources:
                await announce(run)
            async with self._run(run) as run:
                yield run

    @contextlib.asynccontextmanager
    async def complete(self, req: TextRequest, request_id: str) -> AsyncIterator[Run]:
        self.check_ready()
        self.check_model(req.model)
        sequences = self.check_sequences(len(req.prompts), req.n)
        async with self._admitted(sequences):
            async with self._run(Run(self, await self._prepare_text(req, request_id))) as run:
                yield run

    @contextlib.asynccontextmanager
    async def _run(self, run: Run) -> AsyncIterator[Run]:
        await run.start()
        try:
            yield run
        finally:
            await run.aclose()

    # ---- checks -------------------------------------------------------------------------
    @property
    def served_model_name(self) -> str:
        return self.settings.server.served_model_name or self.engine.model_name

    def model_names(self) -> set[str]:
        names = {self.served_model_name, self.engine.model_name}
        if self.settings.model.path:
            names.add(self.settings.model.path)
        return names

    def check_model(self, name: Optional[str]) -> None:
        """The served model answers to its names, also with Ollama's `:latest` tag (Ollama's
        clients send it to the OpenAI routes on the Ollama port, Codex's `--oss` among them)."""
        names = self.model_names()
        if name is not None and name not in names and name.removesuffix(":latest") not in names:
            raise ApiError(
                404,
                f"The model `{name}` does not exist. This server serves `{self.served_model_name}` (see GET /v1/models).",
                param="model",
                code="model_not_found",
            )

    def current_status(self) -> str:
        """loading | ready | dead | failed; a ready engine that stopped being healthy is dead."""
        if self.status == "ready" and not self.engine.healthy:
            self.status = "dead"
        return self.status

    def check_ready(self) -> None:
        if self.current_status() != "ready":
            message = {
                "loading": "the model is still loading; retry in a few seconds",
                "dead": "the engine has stopped and cannot serve; restart the server",
                "failed": "the model failed to load; see the server log",
            }[self.status]
            raise ApiError(503, message, type="service_unavailable", code=self.status, headers={"Retry-After": "2"})

    def check_sequences(self, prompts: int, n: int) -> int:
        """Sequences the request runs (prompts × n); past the per-request limit, a 400 naming n."""
        sequences = prompts * n
        limit = self.settings.admission.max_sequences_per_request
        if sequences > limit:
            raise bad_request(
                f"n: {prompts} prompt(s) × n={n} is {sequences} sequences; this server runs at most {limit} per "
                "request (admission.max_sequences_per_request): lower n or send fewer prompts at once",
                param="n",
                code="too_many_sequences",
            )
        return sequences

    @contextlib.asynccontextmanager
    async def _admitted(self, sequences: int = 1) -> AsyncIterator[None]:
        try:
            async with self.admission.slot(sequences):
                yield
        except Overloaded as exc:
            self.metrics.rejected.inc()
            raise ApiError(
                429,
                str(exc),
                type="rate_limit_error",
                code="server_overloaded",
                headers={"Retry-After": str(exc.retry_after_s)},
            ) from None

    # ---- preparation --------------------------------------------------------------------
    def _sampling(self, sampling: SamplingParams, extra_stop: list[str] = ()) -> SamplingParams:
        """The request's sampling, with the configured defaults (model.sampling,
        model.default_max_tokens) where it sets none and the wire's own stops added."""
        stops = list(sampling.stop)
        stops += [s for s in extra_stop if s not in stops]
        defaults = {name: value for name, value in self.settings.model.sampling if value is not None
                    and getattr(sampling, name) is None}
        return dataclasses.replace(
            sampling, **defaults, stop=stops,
            # 0 (completions with echo: the prompt alone) is a limit too.
            max_tokens=self.settings.model.default_max_tokens if sampling.max_tokens is None else sampling.max_tokens,
        )

    def _budget(self, req: ChatRequest, output_limit: Optional[int]) -> int:
        """Tokens a trimmed history may fill: the window, less room for the output limit. A limit
        past half the context reserves half (agents send 32000 by habit; the output is then
        clamped to what the history leaves)."""
        window = self.settings.model.history_window_tokens
        if req.history_window and req.history_window > 0:
            window = req.history_window
        context = self.engine.tokenizer.context_length
        return min(window, context - min(output_limit or 0, context // 2))

    async def _clamp_output(
        self,
        sampling: SamplingParams,
        param: str,
        fits: Callable[[int], bool],
        count: Callable[[], Awaitable[int]],
        prompt_tokens: Optional[int] = None,
    ) -> SamplingParams:
        """The output limit, clamped to what the window leaves after the prompt, as llama.cpp's
        server stops at the window's end (vLLM's server refuses such a request; agents send
        32000 by habit). A prompt that leaves no room is ContextLengthExceeded. The prompt is
        counted only when its byte size (`fits(budget)`, no tokenizer) cannot show it fits, and
        never for an engine that stops at the window itself (an agent's prompt is rendered and
        tokenized once, by the engine)."""
        limit = sampling.max_tokens
        if limit is None:  # to the window's end: the engine stops there
            return sampling
        context = self.engine.tokenizer.context_length
        if prompt_tokens is None:
            if limit < context and fits(context - limit):
                return sampling
            if self.engine.stops_at_window:  # its PromptTooLongError becomes ContextLengthExceeded
                return sampling
            prompt_tokens = await count()
        room = context - prompt_tokens
        if room < 1:
            raise ContextLengthExceeded(prompt_tokens, context, param)
        return sampling if limit <= room else dataclasses.replace(sampling, max_tokens=room)

    async def _prepare_chat(self, req: ChatRequest, request_id: str) -> "PreparedChat":
        self._check_tools(req)
        messages = req.messages
        sampling = self._sampling(req.sampling)
        dropped = 0
        prompt_tokens: Optional[int] = None
        window: Optional[int] = None
        tokenizer = self.engine.tokenizer
        if req.history_window is not None:
            window = self._budget(req, sampling.max_tokens)
            try:
                fitted = await fit_history(tokenizer, messages, window, req.tools)
            except PromptTooLongError as exc:
                raise too_long(exc) from None
            messages, dropped, prompt_tokens = fitted.messages, fitted.dropped, fitted.prompt_tokens
        sampling = await self._clamp_output(
            sampling,
            "messages",
            lambda budget: fits_by_bytes(messages, budget, req.tools),
            lambda: count_prompt(tokenizer, messages, req.tools),
            prompt_tokens,
        )
        extra = {"ignore_eos": req.ignore_eos}
        if req.reasoning_effort:
            extra["reasoning_effort"] = req.reasoning_effort
        if req.chat_template_kwargs:
            extra["chat_template_kwargs"] = req.chat_template_kwargs
        choices = [
            Choice(
                index=i,
                request=GenerationRequest(
                    f"{request_id}-{i}",
                    sampling,
                    messages=messages,
                    extra=extra,
                    tools=req.tools,
                    tool_choice=req.tool_choice,
                    parallel_tool_calls=req.parallel_tool_calls,
                    response_format=req.response_format,
                    logprobs=req.logprobs,
                ),
                counts_prompt=i == 0,
            )
            for i in range(req.n)
        ]
        return PreparedChat(choices, dropped, window, prompt_tokens)

    @staticmethod
    def _check_tools(req: ChatRequest) -> None:
        names = [t["name"] for t in req.tools]
        if req.tool_choice.mode != "auto" and req.tool_choice.mode != "none" and not req.tools:
            raise bad_request("tool_choice: requires tools", param="tool_choice")
        if req.tool_choice.mode == "function" and req.tool_choice.name not in names:
            raise bad_request(
                f"tool_choice: no tool named {req.tool_choice.name!r} in tools", param="tool_choice.function.name"
            )
        if len(set(names)) != len(names):
            raise bad_request("tools: function names must be unique", param="tools")

    async def _prompt_logprobs(self, prompt: str, alternatives: int, request_id: str) -> list[TokenLogprob]:
        """The prompt's own log probabilities, for echo with logprobs (lm-evaluation-harness scores
        a continuation by them)."""
        try:
            return await self.engine.prompt_logprobs(prompt, alternatives)
        except (PromptTooLongError, EngineError, ValueError) as exc:
            raise engine_api_error(exc, self, request_id) from None

    async def _prepare_text(self, req: TextRequest, request_id: str) -> list[Choice]:
        choices = []
        index = itertools.count()
        extra = {"ignore_eos": req.ignore_eos}
        for prompt in req.prompts:
            stops: list[str] = []
            text = prompt
            if req.suffix is not None:
                fim = render_fim(self.fim_family, prompt, req.suffix, files=req.files)
                text, stops = fim.prompt, fim.stop
            sampling = await self._clamp_output(
                self._sampling(req.sampling, stops),
                "prompt",
                # A BOS token may come before the text's own tokens.
                lambda budget, text=text: len(text.encode()) + 1 <= budget,
                lambda text=text: self.engine.tokenizer.count(text),
            )
            echo_logprobs = await self._prompt_logprobs(prompt, req.logprobs, request_id) if req.echo and req.logprobs is not None else []
            # max_tokens 0 with echo: nothing is generated; the prompt's tokens are still counted.
            prompt_tokens = (len(echo_logprobs) or await self.engine.tokenizer.count(text)) if sampling.max_tokens == 0 else 0
            for j in range(req.n):
                i = next(index)
                choices.append(
                    Choice(
                        index=i,
                        request=GenerationRequest(
                            f"{request_id}-{i}", sampling, prompt=text, extra=extra, logprobs=req.logprobs,
                            response_format=req.response_format,
                        ),
                        echo_prefix=prompt if req.echo else "",
                        echo_logprobs=echo_logprobs,
                        prompt_only_tokens=prompt_tokens,
                        counts_prompt=j == 0,
                    )
                )
        return choices



