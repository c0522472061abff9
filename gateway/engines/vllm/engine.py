"""`VllmEngine`: vLLM's async engine in-process (`AsyncLLM`), tensor parallel over the visible GPUs.

Prompts are tokenized here (the model's own chat template, or harmony for gpt-oss) and sent as
token ids; outputs stream with `RequestOutputKind.DELTA`; closing the stream or cancelling its
consumer aborts the request in vLLM (its KV cache freed); a dead engine core turns `healthy`
false and `generate` raises `EngineDeadError`. vLLM is imported in `start()` and per request,
never at module import.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, AsyncIterator, Optional

from gateway.engines import base
from gateway.engines.vllm.preflight import (
    engine_config, engine_kwargs, model_display_name, one_line, visible_gpu_count,
)
from gateway.engines.vllm import tools
from gateway.engines.vllm.stats import GpuMemory, StatsState, make_stat_logger_factory
from gateway.engines.vllm.tokenizer import INLINE_TOKENIZE_CHARS, VllmTokenizer

# One logger for the whole engine package: log lines read `gateway.engines.vllm: ...`.
log = logging.getLogger("gateway.engines.vllm")
# llama.cpp's samplers in the neutral SamplingParams that vLLM lacks.
LLAMACPP_ONLY_SAMPLING = ("typical_p", "mirostat", "mirostat_tau", "mirostat_eta")

# request.extra keys passed to vLLM's SamplingParams as they are (vLLM extras of the OpenAI API).
PASSTHROUGH_SAMPLING = (
    "ignore_eos", "min_tokens", "stop_token_ids", "skip_special_tokens",
    "spaces_between_special_tokens", "include_stop_str_in_output", "bad_words",
    "allowed_token_ids", "logit_bias",
)


class VllmEngine(base.Engine):
    name = "vllm"
    stops_at_window = True  # _sampling clamps max_tokens to the room the prompt leaves
    device_kind = "gpu"

    def __init__(self, settings: Any):
        self.settings = settings
        self.model_name = model_display_name(settings)
        self._llm: Any = None
        self._tok: Optional[VllmTokenizer] = None
        self._harmony = False
        self._dead_reason: Optional[str] = None
        self._stats = StatsState()
        self._gpu = GpuMemory()
        self._max_model_len = 0
        self._defaults: dict[str, Any] = {}
        self._aborted = 0
        self._started_at: Optional[float] = None
        self._ready_s: Optional[float] = None
        self._tp = 0
        self._lock = threading.Lock()
        self._tool_parser: Any = None  # vLLM's parser class for tool_choice "auto"

    # -- lifecycle

    @property
    def capacity(self) -> int:
        """Sequences vLLM schedules at once: the gateway's default admission limit."""
        return self.settings.vllm.max_num_seqs

    async def start(self, progress: Optional[base.ProgressCallback] = None) -> None:
        loop = asyncio.get_running_loop()

        def report(msg: str, frac: float) -> None:  # callable from the loading thread
            if progress is not None:
                loop.call_soon_threadsafe(progress, msg, frac)

        t0 = time.monotonic()
        self._started_at = t0
        report("importing vLLM", 0.02)

        def build() -> Any:
            n = visible_gpu_count()
            kw = engine_kwargs(self.settings, n)
            self._tp = int(kw.get("tensor_parallel_size", 1))
            cfg = engine_config(kw)
            from gateway.prompts import harmony

            if harmony.is_harmony_model(cfg.model_config.hf_config):
                # Constrained gpt-oss answers start after a prefilled header (a call's or the final
                # channel's), so the grammar holds from the first token; vLLM would wait for the end
                # of reasoning, which a call in the commentary channel never shows.
                cfg.structured_outputs_config.enable_in_reasoning = True
            report(f"starting vLLM engine: {self.model_name}, tensor parallel {self._tp}", 0.1)
            from vllm.v1.engine.async_llm import AsyncLLM
            from vllm.usage.usage_lib import UsageContext

            return AsyncLLM.from_vllm_config(
                cfg,
                usage_context=UsageContext.OPENAI_API_SERVER,
                stat_loggers=[make_stat_logger_factory(self._stats)],
                enable_log_requests=False,
                # vLLM's periodic log lines off; our stat logger (and vLLM's Prometheus logger) on.
                disable_log_stats=True,
            )

        try:
            # Blocks for the whole model load (minutes): off the event loop, so /health answers.
            self._llm = await asyncio.to_thread(build)
        except Exception as exc:
            self._dead_reason = one_line(exc)
            raise base.EngineDeadError(f"vLLM failed to start: {self._dead_reason}") from exc
        mc = self._llm.model_config
        self._max_model_len = int(mc.max_model_len)
        from gateway.prompts import harmony

        self._harmony = harmony.is_harmony_model(getattr(mc, "hf_config", None))
        if self._harmony:
            await asyncio.to_thread(harmony.get_encoding)  # vocabulary check now, not at first request
        else:
            parser = tools.detect_parser(self.settings.vllm.tool_call_parser,
                                         getattr(getattr(mc, "hf_config", None), "model_type", None))
            if parser is not None:
                try:
                    self._tool_parser = tools.parser_class(parser)
                except ValueError as exc:
                    raise base.EngineDeadError(str(exc)) from None
                log.info("tool calls (tool_choice auto) read by vLLM's %r parser", parser)
        try:
            self._defaults = dict(mc.get_diff_sampling_param() or {})
        except Exception:
            self._defaults = {}
        hf_tok = self._llm.get_tokenizer()
        self._tok = VllmTokenizer(hf_tok, self._max_model_len, harmony=self._harmony)
        await self._tok.special_tokens()
        self._ready_s = round(time.monotonic() - t0, 1)
        report("ready", 1.0)
        log.info("vLLM ready in %.1f s (tensor parallel %d, max_model_len %d%s)", self._ready_s,
                 self._tp, self._max_model_len, ", harmony" if self._harmony else "")

    async def stop(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            await asyncio.to_thread(llm.shutdown)
        if self._tok is not None:
            self._tok.close()

    @property
    def healthy(self) -> bool:
        if self._dead_reason is not None:
            return False
        llm = self._llm
        if llm is None:
            return True
        try:
            return not llm.errored
        except Exception:
            return False

    @property
    def calls_tools(self) -> bool:
        return self._harmony or self._tool_parser is not None  # auto needs harmony or a parser

    def _mark_dead(self, reason: str) -> None:
        if self._dead_reason is None:
            self._dead_reason = reason
            log.error("vLLM engine is dead: %s", reason)

    @property
    def tokenizer(self) -> base.Tokenizer:
        if self._tok is None:
            raise base.EngineError("the vLLM engine is not started")
        return self._tok

    # -- requests

    def _prompt_ids(self, request: base.GenerationRequest, release_gil: bool = False) -> list[int]:
        tok = self._tok
        assert tok is not None
        if request.messages is not None:
            if self._harmony:
                from gateway.prompts import harmony

                return harmony.render_chat(request.messages,
                                           reasoning_effort=request.extra.get("reasoning_effort"),
                                           tools=request.tools or None, prefill=self._harmony_prefill(request))
            kwargs: dict[str, Any] = {}
            for key in ("chat_template_kwargs",):
                if isinstance(request.extra.get(key), dict):
                    kwargs.update(request.extra[key])
            if request.tools:
                kwargs["tools"] = [{"type": "function", "function": t} for t in request.tools]
            text = tok.render_chat_sync(request.messages, **kwargs)
            return tok.encode_sync(text, special=True, add_bos=False, release_gil=release_gil)
        # Completions: the text as given (FIM already rendered), BOS added as vLLM's server does.
        return tok.encode_sync(request.prompt or "", special=True, add_bos=True, release_gil=release_gil)

    def _harmony_prefill(self, request: base.GenerationRequest) -> str:
        """gpt-oss answers that must take a shape start with their header already written: a
        forced call (the model writes only the arguments) or the final text (structured output)."""
        from gateway.prompts import harmony

        choice = request.tool_choice
        if request.tools and choice.forced:
            if choice.mode == "function":
                return harmony.call_header(choice.name or "")
            if len(request.tools) == 1:
                return harmony.call_header(request.tools[0]["name"])
            raise base.RequestError(
                "tool_choice: required with several tools is not supported for gpt-oss; name the function",
                param="tool_choice",
            )
        if request.response_format is not None:
            return harmony.FINAL_HEADER
        return ""

    def _constraint(self, request: base.GenerationRequest) -> Any:
        """vLLM structured-outputs parameters for a forced call or a response_format, or None."""
        if request.tools and request.tool_choice.forced:
            if self._harmony:  # the header names the function; the model writes its arguments
                name = request.tool_choice.name if request.tool_choice.mode == "function" else request.tools[0]["name"]
                tool = next(t for t in request.tools if t["name"] == name)
                return tools.structured_outputs(tool.get("parameters") or {"type": "object"})
            return tools.structured_outputs(tools.ForcedToolCall(request).schema)
        fmt = request.response_format
        if fmt is not None:
            return tools.structured_outputs(fmt.schema, json_object=fmt.schema is None)
        return None

    def _sampling(self, request: base.GenerationRequest, prompt_len: int) -> Any:
        from vllm.sampling_params import RequestOutputKind, SamplingParams

        s = request.sampling
        room = self._max_model_len - prompt_len
        if room < 1:
            raise base.PromptTooLongError(prompt_len, self._max_model_len,
                                          "messages" if request.messages is not None else "prompt")
        for name in LLAMACPP_ONLY_SAMPLING:
            value = getattr(s, name)
            if value is not None and not (name == "mirostat" and value == 0):  # mirostat 0: off
                raise base.RequestError(f"{name}: not supported by the vllm engine (llama.cpp's sampler)", param=name)
        d = self._defaults
        max_tokens = s.max_tokens if s.max_tokens is not None else d.get("max_tokens")
        max_tokens = room if max_tokens is None else max(1, min(int(max_tokens), room))
        kw: dict[str, Any] = dict(n=1, max_tokens=max_tokens, output_kind=RequestOutputKind.DELTA)
        for name in ("temperature", "top_p", "top_k", "min_p", "repetition_penalty"):
            v = getattr(s, name)
            if v is None:
                v = d.get(name)
            if v is not None:
                kw[name] = v
        if kw.get("top_k") is not None and kw["top_k"] <= 0:
            kw["top_k"] = 0  # OpenAI clients send -1/0 for "off"; vLLM's off is 0
        for name in ("presence_penalty", "frequency_penalty", "seed"):
            v = getattr(s, name)
            if v is not None:
                kw[name] = v
        stop_strings: list[str] = []
        stop_ids: list[int] = []
        for st in s.stop or []:
            tid = self._tok.special_token_id(st) if self._tok is not None else None
            if tid is not None:
                stop_ids.append(tid)  # special tokens never reach the text: stop on the id
            else:
                stop_strings.append(st)
        if stop_strings:
            kw["stop"] = stop_strings
        extra = request.extra or {}
        for name in PASSTHROUGH_SAMPLING:
            if extra.get(name) is not None:
                kw[name] = extra[name]
        if self._harmony and request.messages is not None:
            from gateway.prompts import harmony

            stop_ids += harmony.stop_token_ids()
            # harmony output is parsed from token ids; text only when stop strings need it
            kw["detokenize"] = bool(stop_strings)
            kw["skip_special_tokens"] = False
        if stop_ids:
            kw["stop_token_ids"] = list(dict.fromkeys(list(kw.get("stop_token_ids") or []) + stop_ids))
        constraint = self._constraint(request)
        if constraint is not None:
            kw["structured_outputs"] = constraint
        if request.logprobs is not None:
            if self._harmony and request.messages is not None:
                raise base.RequestError("logprobs: not supported for gpt-oss (harmony) answers", param="logprobs")
            kw["logprobs"] = request.logprobs
        try:
            return SamplingParams(**kw)
        except (ValueError, TypeError) as exc:
            raise ValueError(one_line(exc)) from None

    async def generate(self, request: base.GenerationRequest) -> AsyncIterator[base.Delta]:
        llm = self._llm
        if llm is None:
            raise base.EngineError("the vLLM engine is not started")
        if not self.healthy:
            raise base.EngineDeadError(f"the vLLM engine is dead: {self._dead_reason or 'engine core errored'}")
        from vllm.v1.engine.exceptions import EngineDeadError as VllmDead
        from vllm.v1.engine.exceptions import EngineGenerateError

        size = len(request.prompt or "") + sum(len(str(m.get("content") or "")) for m in request.messages or [])
        if size > INLINE_TOKENIZE_CHARS and self._tok is not None:
            prompt_ids = await self._tok.off_loop(self._prompt_ids, request, True)
        else:
            prompt_ids = self._prompt_ids(request)
        params = self._sampling(request, len(prompt_ids))
        parser = None
        forced = auto = None
        if self._harmony and request.messages is not None:
            from gateway.prompts import harmony

            parser = harmony.HarmonyStreamParser()
            prefill = self._harmony_prefill(request)
            if prefill:
                parser.prime(harmony.prefill_ids(prefill))
        elif request.tools and request.tool_choice.forced:
            forced = tools.ForcedToolCall(request)
        elif request.tools and request.tool_choice.mode == "auto":
            if self._tool_parser is None:
                raise base.RequestError(
                    "tool_choice: auto needs vLLM's tool-call parser for this model; set vllm.tool_call_parser "
                    "(or send tool_choice required, a named function, or none)",
                    param="tool_choice",
                )
            assert self._tok is not None
            auto = tools.AutoToolCalls(self._tool_parser, self._tok.hf, request)

        stream = llm.generate({"prompt_token_ids": prompt_ids}, params, request.request_id)
        n_out = 0
        finished = False
        try:
            async for out in stream:
                c = out.outputs[0]
                n_out += len(c.token_ids)
                calls: list[base.ToolCallPiece] = []
                if parser is not None:
                    text, reasoning = parser.feed(c.token_ids)
                    calls = [base.ToolCallPiece(p.index, p.id, p.name, p.arguments) for p in parser.take_calls()]
                elif forced is not None:
                    text, reasoning, calls = "", "", forced.feed(c.text)
                elif auto is not None:
                    (text, calls), reasoning = auto.feed(c.text, list(c.token_ids)), ""
                else:
                    text, reasoning = c.text, ""
                logprobs = (
                    tools.logprob_entries(list(c.token_ids), c.logprobs, request.logprobs)
                    if request.logprobs is not None else []
                )
                if out.finished:
                    finished = True
                    if parser is not None:
                        t2, r2 = parser.finish()
                        text, reasoning = text + t2, reasoning + r2
                    reason = c.finish_reason or "stop"
                    if reason == "abort":
                        self._aborted += 1
                    if parser is not None:
                        called = parser.call_count
                    else:
                        reader = forced or auto
                        called = reader.calls if reader is not None else 0
                    if called and reason == "stop":
                        reason = "tool_calls"
                    yield base.Delta(
                        text=text, reasoning=reasoning, finish_reason=reason, tool_calls=calls, logprobs=logprobs,
                        prompt_tokens=len(prompt_ids), completion_tokens=n_out,
                        cached_tokens=out.num_cached_tokens,
                    )
                elif text or reasoning or calls or logprobs:
                    yield base.Delta(text=text, reasoning=reasoning, tool_calls=calls, logprobs=logprobs)
        except VllmDead as exc:
            self._mark_dead("engine core died")
            raise base.EngineDeadError("the vLLM engine died; restart the server") from exc
        except EngineGenerateError as exc:
            if self._llm is not None and self._llm.errored:
                self._mark_dead("engine core errored")
                raise base.EngineDeadError("the vLLM engine died; restart the server") from exc
            cause = exc.__cause__
            raise base.EngineError(f"vLLM failed on this request: {one_line(cause or exc)}") from exc
        except ValueError as exc:  # vLLM's request validation
            if isinstance(exc, base.PromptTooLongError):
                raise
            raise ValueError(one_line(exc)) from None
        except (GeneratorExit, asyncio.CancelledError):
            # The consumer went away (closed the stream or was cancelled): closing vLLM's
            # generator aborts the request in the engine core and frees its KV cache.
            if not finished:
                self._aborted += 1
            raise
        finally:
            if not finished:
                try:
                    await stream.aclose()
                except BaseException:
                    pass

    async def abort(self, request_id: str) -> None:
        llm = self._llm
        if llm is None:
            return
        try:
            await llm.abort(request_id)
        except Exception as exc:
            log.debug("abort %s: %s", request_id, exc)

    # -- stats

    def unfinished_requests(self) -> int:
        llm = self._llm
        try:
            return int(llm.output_processor.get_num_unfinished_requests()) if llm is not None else 0
        except Exception:
            return 0

    async def stats(self) -> base.EngineStats:
        st = self._stats
        unfinished = self.unfinished_requests()
        running, waiting = st.running, st.waiting
        if unfinished == 0:
            # No live request in this process, so none in the engine core either (aborts are sent
            # at once); the scheduler's last report can be a step old.
            running = waiting = 0
        counters = dict(st.counters)
        counters.update(
            num_requests_running=running,
            num_requests_waiting=waiting,
            num_requests_unfinished=unfinished,
            requests_aborted_total=self._aborted,
            tensor_parallel_size=self._tp,
        )
        if st.kv_cache_usage is not None:
            counters["kv_cache_usage_perc"] = st.kv_cache_usage
        if self._ready_s is not None:
            counters["time_to_ready_seconds"] = self._ready_s
        try:
            devices = await asyncio.to_thread(self._gpu.read)
        except Exception:
            devices = []
        return base.EngineStats(
            engine=self.name, model=self.model_name, running=running, waiting=waiting,
            kv_cache_usage=st.kv_cache_usage, devices=devices, counters=counters,
        )
