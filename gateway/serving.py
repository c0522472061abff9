"""Serving logic between the thin HTTP handlers and the engine: validation that needs the
model, prompt preparation (history window, FIM), fan-out of `n` choices, and accounting.

Handlers build a `Generation`, `await generation.start()` (so errors found before the first
token still get a proper 4xx status), then iterate it. Closing it — normally, on error, or
because the client went away and aiohttp cancelled the handler — closes every engine stream,
which aborts the request in the engine.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Optional, Union

from gateway.admission import Admission, Overloaded
from gateway.engines.base import (
    Delta,
    Engine,
    EngineDeadError,
    EngineError,
    GenerationRequest,
    PromptTooLongError,
    SamplingParams,
)
from gateway.errors import ApiError, bad_request
from gateway.prompts.fim import FimFamily, render_fim
from gateway.prompts.history import fit_history
from gateway.schemas import ChatCompletionRequest, CompletionRequest
from gateway.settings import Settings
from gateway.telemetry import Metrics, RequestStats, TurnNumbers


@dataclass
class Choice:
    index: int
    request: GenerationRequest
    # For completions with echo: text to put before the generated text.
    echo_prefix: str = ""
    counts_prompt: bool = True  # False for the 2nd..nth copy of the same prompt


@dataclass
class Prepared:
    choices: list[Choice]
    dropped_messages: int = 0


class Serving:
    def __init__(self, settings: Settings, engine: Engine, metrics: Metrics):
        self.settings = settings
        self.engine = engine
        self.metrics = metrics
        self.stats = RequestStats()
        self.status = "loading"  # loading | ready | dead | failed
        self.fim_family: Optional[FimFamily] = None
        # More at once than the engine runs in parallel would only queue inside it, where a
        # queue is neither bounded nor visible: the engine's capacity is the default and the cap.
        capacity = getattr(engine, "max_parallel", None)
        limit = settings.admission.max_concurrency or capacity or 8
        if capacity:
            limit = min(limit, capacity)
        self.admission = Admission(
            limit,
            settings.admission.max_queue,
            settings.admission.queue_timeout_s,
            settings.admission.retry_after_s,
        )

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
        if name is not None and name not in self.model_names():
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

    @contextlib.asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        try:
            async with self.admission.slot():
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
    def _output_limit(self, req: Union[ChatCompletionRequest, CompletionRequest]) -> Optional[int]:
        return req.output_limit or self.settings.model.default_max_tokens

    def _sampling(
        self, req: Union[ChatCompletionRequest, CompletionRequest], extra_stop: list[str] = ()
    ) -> SamplingParams:
        stops = req.stop_list()
        stops += [s for s in extra_stop if s not in stops]
        return SamplingParams(
            max_tokens=self._output_limit(req),
            temperature=req.temperature,
            top_p=req.top_p,
            top_k=req.top_k,
            min_p=req.min_p,
            repetition_penalty=req.repetition_penalty,
            presence_penalty=req.presence_penalty,
            frequency_penalty=req.frequency_penalty,
            seed=req.seed,
            stop=stops,
        )

    def _budget(self, req: Union[ChatCompletionRequest, CompletionRequest]) -> int:
        window = self.settings.model.history_window_tokens
        if req.truncate_prompt_tokens and req.truncate_prompt_tokens > 0:
            window = req.truncate_prompt_tokens
        limit = self._output_limit(req)
        room = self.engine.tokenizer.context_length - (limit or 0)
        if room <= 0:
            param = "max_completion_tokens" if getattr(req, "max_completion_tokens", None) else "max_tokens"
            raise bad_request(
                f"{param}: {limit} leaves no room for the prompt in this model's context of "
                f"{self.engine.tokenizer.context_length} tokens",
                param=param,
            )
        return min(window, room)

    async def prepare_chat(self, req: ChatCompletionRequest, request_id: str) -> Prepared:
        messages = [
            {"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages
        ]
        dropped = 0
        if req.truncate_prompt_tokens is not None:
            try:
                fitted = await fit_history(self.engine.tokenizer, messages, self._budget(req))
            except PromptTooLongError as exc:
                raise _too_long(exc) from None
            messages, dropped = fitted.messages, fitted.dropped
        extra: dict[str, Any] = {"ignore_eos": req.ignore_eos}
        if req.reasoning_effort:
            extra["reasoning_effort"] = req.reasoning_effort
        sampling = self._sampling(req)
        choices = [
            Choice(
                index=i,
                request=GenerationRequest(f"{request_id}-{i}", sampling, messages=messages, extra=extra),
                counts_prompt=i == 0,
            )
            for i in range(req.n)
        ]
        return Prepared(choices, dropped)

    def prepare_completion(self, req: CompletionRequest, request_id: str) -> Prepared:
        choices = []
        index = itertools.count()
        extra = {"ignore_eos": req.ignore_eos}
        for prompt in req.prompts():
            stops: list[str] = []
            text = prompt
            if req.suffix is not None:
                fim = render_fim(
                    self.fim_family,
                    prompt,
                    req.suffix,
                    files=[(f.path, f.content) for f in req.fim_files],
                )
                text, stops = fim.prompt, fim.stop
            sampling = self._sampling(req, stops)
            for j in range(req.n):
                i = next(index)
                choices.append(
                    Choice(
                        index=i,
                        request=GenerationRequest(f"{request_id}-{i}", sampling, prompt=text, extra=extra),
                        echo_prefix=prompt if req.echo else "",
                        counts_prompt=j == 0,
                    )
                )
        return Prepared(choices)

    def generation(self, prepared: Prepared) -> "Generation":
        return Generation(self, prepared.choices)


def _too_long(exc: PromptTooLongError) -> ApiError:
    return bad_request(str(exc), param=exc.param, code="context_length_exceeded")


def new_request_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


@dataclass
class ChoiceResult:
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    finish_reason: Optional[str] = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    # Output pieces streamed so far: the token count of a stream cut short, which never gets
    # the engine's final count (engines stream about one token per piece).
    pieces: int = 0


class Generation:
    """The engine streams of one HTTP request, merged as (choice index, Delta) pairs."""

    def __init__(self, serving: Serving, choices: list[Choice]):
        self._serving = serving
        self.choices = choices
        self.results = {c.index: ChoiceResult() for c in choices}
        self._t0 = time.perf_counter()
        self._t_first: Optional[float] = None
        self._stream: Optional[AsyncIterator[tuple[int, Delta]]] = None
        self._first: Optional[tuple[int, Delta]] = None
        self._finals = 0
        self._failed = False  # the engine refused or failed: an error, not an abort
        self._closed = False

    async def start(self) -> None:
        """Wait for the first delta, so errors before any output become a proper status."""
        self._stream = self._merged()
        try:
            self._first = await self._stream.__anext__()
        except StopAsyncIteration:
            self._first = None
        except BaseException:
            await self.aclose()
            raise

    async def __aiter__(self) -> AsyncIterator[tuple[int, Delta]]:
        assert self._stream is not None, "call start() first"
        try:
            if self._first is not None:
                yield self._account(*self._first)
            async for index, delta in self._stream:
                yield self._account(index, delta)
        finally:
            await self.aclose()

    def _account(self, index: int, delta: Delta) -> tuple[int, Delta]:
        result = self.results[index]
        if (delta.text or delta.reasoning) and self._t_first is None:
            self._t_first = time.perf_counter()
        if delta.text:
            result.text.append(delta.text)
        if delta.reasoning:
            result.reasoning.append(delta.reasoning)
        if delta.text or delta.reasoning:
            result.pieces += 1
        if delta.finish_reason is not None:
            self._finals += 1
            result.finish_reason = delta.finish_reason
            result.prompt_tokens = delta.prompt_tokens or 0
            result.completion_tokens = delta.completion_tokens or 0
            result.cached_tokens = delta.cached_tokens or 0
        return index, delta

    def usage(self) -> dict[str, Any]:
        prompt = sum(self.results[c.index].prompt_tokens for c in self.choices if c.counts_prompt)
        completion = sum(r.completion_tokens for r in self.results.values())
        cached = sum(self.results[c.index].cached_tokens for c in self.choices if c.counts_prompt)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        }

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._stream is not None:
            await self._stream.aclose()
        self._record()

    def _record(self) -> None:
        serving = self._serving
        finished = self._finals == len(self.choices)
        usage = self.usage()
        counters = serving.stats.counters
        counters["requests_total"] += 1
        counters["completion_tokens_total"] += usage["completion_tokens"]
        serving.metrics.prompt_tokens.inc(usage["prompt_tokens"])
        serving.metrics.completion_tokens.inc(usage["completion_tokens"])
        if self._failed:
            return
        if not finished:
            streamed = sum(r.pieces for r in self.results.values() if r.finish_reason is None)
            counters["completion_tokens_total"] += streamed
            serving.metrics.completion_tokens.inc(streamed)
            counters["requests_aborted_total"] += 1
            serving.metrics.aborted.inc()
            return
        now = time.perf_counter()
        serving.metrics.e2e.observe(now - self._t0)
        ttft = None
        tps = None
        if self._t_first is not None:
            ttft = (self._t_first - self._t0) * 1000
            serving.metrics.ttft.observe(ttft / 1000)
            decode_s = now - self._t_first
            if usage["completion_tokens"] > 1 and decode_s > 0:
                tps = (usage["completion_tokens"] - len(self.choices)) / decode_s
        serving.stats.record(TurnNumbers(usage["prompt_tokens"], usage["completion_tokens"], ttft, tps))

    async def _merged(self) -> AsyncIterator[tuple[int, Delta]]:
        engine = self._serving.engine
        try:
            if len(self.choices) == 1:
                choice = self.choices[0]
                gen = engine.generate(choice.request)
                try:
                    async for delta in gen:
                        yield choice.index, delta
                finally:
                    await gen.aclose()
                return
            async for pair in _merge(engine, self.choices):
                yield pair
        except (PromptTooLongError, EngineError, ValueError) as exc:
            self._failed = True  # an error answer, not a client that went away
            raise _api_error(exc, self._serving) from None


def _api_error(exc: Exception, serving: Serving) -> ApiError:
    if isinstance(exc, PromptTooLongError):
        return _too_long(exc)
    if isinstance(exc, EngineDeadError):
        serving.status = "dead"
        return ApiError(503, f"the engine has stopped: {exc}", type="service_unavailable", code="engine_dead")
    if isinstance(exc, EngineError):
        return ApiError(500, f"the engine failed: {exc}", type="server_error", code="engine_error")
    return bad_request(str(exc))


async def _merge(engine: Engine, choices: list[Choice]) -> AsyncIterator[tuple[int, Delta]]:
    queue: asyncio.Queue = asyncio.Queue()
    end = object()

    async def pump(choice: Choice) -> None:
        gen = engine.generate(choice.request)
        try:
            async for delta in gen:
                queue.put_nowait((choice.index, delta))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            queue.put_nowait((choice.index, exc))
        finally:
            await gen.aclose()
            queue.put_nowait((choice.index, end))

    tasks = [asyncio.create_task(pump(c)) for c in choices]
    try:
        remaining = len(tasks)
        while remaining:
            index, item = await queue.get()
            if item is end:
                remaining -= 1
            elif isinstance(item, BaseException):
                if not isinstance(item, asyncio.CancelledError):
                    raise item
            else:
                yield index, item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
