"""vLLM's async engine in-process (`AsyncLLM`), tensor parallel over the visible GPUs.

Nothing here imports torch or vLLM at module import time: `preflight()` and `start()` do, so the
rest of the product (and this module's import) works on machines without either.

- `preflight(settings)`: one line saying what is missing (vLLM, a CUDA GPU) or which setting is
  wrong, raised as RuntimeError before anything is started; it also builds vLLM's config once, so
  vLLM's own validation (max_model_len, quantization, dtype, ...) fails here with one line.
- `VllmEngine`: prompts are tokenized here (the model's own chat template, or harmony for gpt-oss)
  and sent as token ids; outputs stream with `RequestOutputKind.DELTA`; closing the stream or
  cancelling its consumer aborts the request in vLLM (its KV cache freed); a dead engine core
  turns `healthy` false and `generate` raises `EngineDeadError`.
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import importlib.util
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Optional

from gateway.engines import base

log = logging.getLogger("gateway.engines.vllm")

INSTALL_HINT = "pip install '.[vllm]' in the oss-sidecar source folder"
# request.extra keys passed to vLLM's SamplingParams as they are (vLLM extras of the OpenAI API).
PASSTHROUGH_SAMPLING = (
    "ignore_eos", "min_tokens", "stop_token_ids", "skip_special_tokens",
    "spaces_between_special_tokens", "include_stop_str_in_output", "bad_words",
    "allowed_token_ids", "logit_bias",
)
# Prompts longer than this (characters) are tokenized in a worker thread, with a tokenizer call
# that releases the GIL, so the event loop keeps streaming other requests meanwhile (a 1,024-token
# prompt takes ~3.6 ms to encode, and the Hugging Face `encode` path holds the GIL throughout).
_INLINE_TOKENIZE_CHARS = 1_024

_preflight_cache: dict[str, Any] = {}


# ---------------------------------------------------------------- configuration

def _one_line(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):  # pydantic ValidationError: the first error's message
        try:
            first = errors()[0]
            loc = ".".join(str(p) for p in first.get("loc", ()))
            msg = str(first.get("msg", "")).removeprefix("Value error, ")
            return f"{loc}: {msg}" if loc else msg
        except Exception:
            pass
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text[:400]


def model_display_name(settings: Any) -> str:
    if settings.server.served_model_name:
        return settings.server.served_model_name
    path = settings.model.path or ""
    p = Path(path).expanduser()
    return p.name if p.exists() else path


def resolve_tensor_parallel(tp: Any, visible_gpus: int) -> int:
    return visible_gpus if tp == "auto" else int(tp)


def engine_kwargs(settings: Any, visible_gpus: int) -> dict[str, Any]:
    """AsyncEngineArgs keyword arguments from the settings (engine_args merged last)."""
    vs = settings.vllm
    model = settings.model.path
    if model and Path(model).expanduser().exists():
        model = str(Path(model).expanduser().resolve())
    kw: dict[str, Any] = dict(
        model=model,
        served_model_name=[model_display_name(settings)],
        tensor_parallel_size=resolve_tensor_parallel(vs.tensor_parallel_size, visible_gpus),
        gpu_memory_utilization=vs.gpu_memory_utilization,
        max_num_seqs=vs.max_num_seqs,
        dtype=vs.dtype,
        kv_cache_dtype=vs.kv_cache_dtype,
        enable_prefix_caching=vs.enable_prefix_caching,
        enforce_eager=vs.enforce_eager,
        load_format=vs.load_format,
    )
    if vs.max_model_len is not None:
        kw["max_model_len"] = vs.max_model_len
    if vs.quantization is not None:
        kw["quantization"] = vs.quantization
    if vs.distributed_executor_backend is not None:
        kw["distributed_executor_backend"] = vs.distributed_executor_backend
    kw.update(vs.engine_args or {})
    return kw


def visible_gpu_count() -> int:
    """CUDA GPUs this process may use. torch counts them through NVML without creating a CUDA
    context (a context here would make vLLM fall back to spawning its workers)."""
    import torch

    # device_count() asks NVML; is_available() would initialise the CUDA driver in this process.
    return int(torch.cuda.device_count())


def preflight(settings: Any) -> None:
    """Raise RuntimeError with one line when the vllm engine cannot start with these settings."""
    if not settings.model.path:
        raise RuntimeError(
            "--model: the vllm engine needs a Hugging Face model id or a local model folder "
            "(e.g. --model openai/gpt-oss-20b)"
        )
    for mod in ("vllm", "torch"):
        try:
            found = importlib.util.find_spec(mod) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise RuntimeError(
                f"--engine vllm needs vLLM ({mod} is not installed): {INSTALL_HINT} "
                "(Linux, NVIDIA GPU with CUDA); or use --engine llamacpp"
            )
    try:
        n = visible_gpu_count()
    except Exception as exc:  # broken CUDA/NVML install
        raise RuntimeError(f"--engine vllm: cannot query CUDA GPUs: {_one_line(exc)}") from None
    if n == 0:
        cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
        hint = f" (CUDA_VISIBLE_DEVICES={cvd!r})" if cvd is not None else ""
        raise RuntimeError(
            f"--engine vllm needs an NVIDIA GPU with CUDA and none is visible{hint}; "
            "check nvidia-smi, or use --engine llamacpp"
        )
    vs = settings.vllm
    tp = resolve_tensor_parallel(vs.tensor_parallel_size, n)
    if tp > n and vs.distributed_executor_backend != "ray":
        raise RuntimeError(
            f"vllm.tensor_parallel_size={tp} but only {n} CUDA GPU(s) are visible: set it to "
            f"'auto' or at most {n} (more GPUs than one machine has needs "
            "distributed_executor_backend: ray)"
        )
    try:
        from vllm.engine.arg_utils import AsyncEngineArgs
    except Exception as exc:
        raise RuntimeError(f"--engine vllm: vLLM does not import: {_one_line(exc)} ({INSTALL_HINT})") from None
    fields = {f.name for f in dataclasses.fields(AsyncEngineArgs)}
    for key in (vs.engine_args or {}):
        if key not in fields:
            raise RuntimeError(f"vllm.engine_args.{key}: not an engine argument of this vLLM")
    kw = engine_kwargs(settings, n)
    try:
        vllm_config = _create_config(kw)
    except Exception as exc:
        raise RuntimeError(f"vllm: {_one_line(exc)}") from None
    _preflight_cache.clear()
    _preflight_cache[_key(kw)] = vllm_config


def _key(kw: dict[str, Any]) -> str:
    return json.dumps(kw, sort_keys=True, default=str)


def _create_config(kw: dict[str, Any]) -> Any:
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.usage.usage_lib import UsageContext

    args = AsyncEngineArgs(**kw)
    # The serving defaults (batched-token budget, ...) of vLLM's own OpenAI server.
    return args.create_engine_config(usage_context=UsageContext.OPENAI_API_SERVER)


# ---------------------------------------------------------------- stats from vLLM's stat loggers

class _StatsState:
    """Fed by vLLM's stat-logger hook on every engine step (in the event loop thread)."""

    def __init__(self) -> None:
        self.running = 0
        self.waiting = 0
        self.kv_cache_usage: Optional[float] = None
        self.counters: dict[str, float] = {
            "prompt_tokens_total": 0, "generation_tokens_total": 0, "request_success_total": 0,
            "num_preemptions_total": 0, "prefix_cache_queries_total": 0, "prefix_cache_hits_total": 0,
        }

    def record(self, scheduler_stats: Any, iteration_stats: Any) -> None:
        c = self.counters
        if scheduler_stats is not None:
            self.running = int(getattr(scheduler_stats, "num_running_reqs", 0))
            self.waiting = int(getattr(scheduler_stats, "num_waiting_reqs", 0))
            self.kv_cache_usage = float(getattr(scheduler_stats, "kv_cache_usage", 0.0))
            pcs = getattr(scheduler_stats, "prefix_cache_stats", None)
            if pcs is not None:
                c["prefix_cache_queries_total"] += getattr(pcs, "queries", 0)
                c["prefix_cache_hits_total"] += getattr(pcs, "hits", 0)
        if iteration_stats is not None:
            c["generation_tokens_total"] += getattr(iteration_stats, "num_generation_tokens", 0)
            c["prompt_tokens_total"] += getattr(iteration_stats, "num_prompt_tokens", 0)
            c["num_preemptions_total"] += getattr(iteration_stats, "num_preempted_reqs", 0)
            for fin in getattr(iteration_stats, "finished_requests", ()) or ():
                reason = str(getattr(fin, "finish_reason", "")).lower().split(".")[-1] or "unknown"
                key = f"request_finished_{reason}_total"
                c[key] = c.get(key, 0) + 1
                c["request_success_total"] += 1


def _make_stat_logger_factory(state: _StatsState) -> Any:
    from vllm.v1.metrics.loggers import StatLoggerBase

    class GatewayStatLogger(StatLoggerBase):
        def __init__(self, vllm_config: Any, engine_index: int = 0):
            self.engine_index = engine_index

        def record(self, scheduler_stats: Any, iteration_stats: Any, mm_cache_stats: Any = None,
                   engine_idx: int = 0) -> None:
            state.record(scheduler_stats, iteration_stats)

        def log_engine_initialized(self) -> None:
            pass

    return GatewayStatLogger


class _GpuMemory:
    """Per-GPU memory through NVML (no CUDA context in the gateway's process)."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: list[tuple[str, Any]] = []
        self._failed = False

    def _init(self) -> None:
        try:
            try:
                from vllm.third_party import pynvml as nvml
            except ImportError:
                import pynvml as nvml  # nvidia-ml-py
            nvml.nvmlInit()
            count = nvml.nvmlDeviceGetCount()
            cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
            if cvd is not None and cvd.strip() != "":
                ids = [x.strip() for x in cvd.split(",") if x.strip()]
            else:
                ids = [str(i) for i in range(count)]
            for cuda_idx, dev in enumerate(ids):
                h = (nvml.nvmlDeviceGetHandleByIndex(int(dev)) if dev.isdigit()
                     else nvml.nvmlDeviceGetHandleByUUID(dev))
                name = nvml.nvmlDeviceGetName(h)
                name = name.decode() if isinstance(name, bytes) else name
                self._handles.append((f"cuda:{cuda_idx} {name}", h))
            self._nvml = nvml
        except Exception as exc:
            log.debug("NVML unavailable: %s", exc)
            self._failed = True

    def read(self) -> list[dict[str, Any]]:
        if self._nvml is None and not self._failed:
            self._init()
        out = []
        for name, h in self._handles:
            try:
                mem = self._nvml.nvmlDeviceGetMemoryInfo(h)
                out.append({"name": name, "used_bytes": int(mem.used), "total_bytes": int(mem.total)})
            except Exception:
                continue
        return out


# ---------------------------------------------------------------- tokenizer

class VllmTokenizer(base.Tokenizer):
    """The model's Hugging Face tokenizer (as vLLM loaded it); harmony for gpt-oss chat.

    Long texts are encoded in a small thread pool through a private copy of the Rust tokenizer
    (`tokenizers.Tokenizer.encode_batch`, which releases the GIL); the copy is checked against the
    Hugging Face tokenizer once and not used if the two disagree.
    """

    def __init__(self, hf_tokenizer: Any, context_length: int, harmony: bool = False):
        self.hf = hf_tokenizer
        self.context_length = context_length
        self.harmony = harmony
        self._specials: Optional[set[str]] = None
        self._local = threading.local()
        self._raw_json: Optional[str] = None
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="oss-sidecar-tokenize")
        try:
            backend = getattr(hf_tokenizer, "_tokenizer", None)
            if backend is not None and type(backend).__module__.split(".")[0] == "tokenizers":
                self._raw_json = backend.to_str()
                probe = "Hello, world!\n  def f(x):\treturn x  # ü 😀"
                if self._raw_encode(probe, False) != list(hf_tokenizer.encode(probe, add_special_tokens=False)):
                    self._raw_json = None
        except Exception as exc:  # any doubt: the Hugging Face path only
            log.debug("no GIL-free tokenizer copy: %s", exc)
            self._raw_json = None

    def _raw_encode(self, text: str, add_bos: bool) -> list[int]:
        raw = getattr(self._local, "raw", None)
        if raw is None:
            from tokenizers import Tokenizer

            raw = Tokenizer.from_str(self._raw_json)
            raw.no_truncation()
            raw.no_padding()
            self._local.raw = raw
        return list(raw.encode_batch([text], add_special_tokens=add_bos)[0].ids)

    def encode_sync(self, text: str, *, special: bool = True, add_bos: bool = False,
                    release_gil: bool = False) -> list[int]:
        if release_gil and special and self._raw_json is not None:
            try:
                return self._raw_encode(text, add_bos)
            except Exception as exc:
                log.warning("GIL-free tokenizer copy failed (%s); using the Hugging Face tokenizer", exc)
                self._raw_json = None
        try:
            return list(self.hf.encode(text, add_special_tokens=add_bos, split_special_tokens=not special))
        except TypeError:
            return list(self.hf.encode(text, add_special_tokens=add_bos))

    async def off_loop(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(fn, *args, **kwargs))

    async def encode(self, text: str, *, special: bool = True) -> list[int]:
        if len(text) > _INLINE_TOKENIZE_CHARS:
            return await self.off_loop(self.encode_sync, text, special=special, release_gil=True)
        return self.encode_sync(text, special=special)

    def render_chat_sync(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        if self.harmony:
            from gateway.prompts import harmony

            return harmony.render_chat_text(messages, reasoning_effort=kwargs.get("reasoning_effort"))
        try:
            return self.hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)
        except Exception as exc:  # jinja errors: a message the template does not accept
            if type(exc).__name__ in ("TemplateError", "TemplateSyntaxError", "UndefinedError", "ValueError"):
                raise ValueError(f"messages: the model's chat template rejected them: {exc}") from None
            raise

    async def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        return self.render_chat_sync(messages, **kwargs)

    async def special_tokens(self) -> set[str]:
        if self._specials is None:
            specials = set(getattr(self.hf, "all_special_tokens", []) or [])
            try:
                for tok in self.hf.added_tokens_decoder.values():
                    if getattr(tok, "special", False):
                        specials.add(str(tok.content))
            except Exception:
                pass
            if self.harmony:
                from gateway.prompts import harmony

                specials |= harmony.special_tokens()
            self._specials = specials
        return self._specials

    def single_token_id(self, text: str) -> Optional[int]:
        """The id of `text` when it is one special/added token of the vocabulary, else None."""
        try:
            tid = self.hf.convert_tokens_to_ids(text)
        except Exception:
            return None
        if isinstance(tid, int) and tid >= 0 and tid != getattr(self.hf, "unk_token_id", None):
            return tid
        return None


# ---------------------------------------------------------------- engine

class VllmEngine(base.Engine):
    name = "vllm"

    def __init__(self, settings: Any):
        self.settings = settings
        self.model_name = model_display_name(settings)
        self._llm: Any = None
        self._tok: Optional[VllmTokenizer] = None
        self._harmony = False
        self._dead_reason: Optional[str] = None
        self._stats = _StatsState()
        self._gpu = _GpuMemory()
        self._max_model_len = 0
        self._defaults: dict[str, Any] = {}
        self._aborted = 0
        self._started_at: Optional[float] = None
        self._ready_s: Optional[float] = None
        self._tp = 0
        self._lock = threading.Lock()

    # -- lifecycle

    @property
    def max_parallel(self) -> int:
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
            cfg = _preflight_cache.pop(_key(kw), None) or _create_config(kw)
            report(f"starting vLLM engine: {self.model_name}, tensor parallel {self._tp}", 0.1)
            from vllm.v1.engine.async_llm import AsyncLLM
            from vllm.usage.usage_lib import UsageContext

            return AsyncLLM.from_vllm_config(
                cfg,
                usage_context=UsageContext.OPENAI_API_SERVER,
                stat_loggers=[_make_stat_logger_factory(self._stats)],
                enable_log_requests=False,
                # vLLM's periodic log lines off; our stat logger (and vLLM's Prometheus logger) on.
                disable_log_stats=True,
            )

        try:
            # Blocks for the whole model load (minutes): off the event loop, so /health answers.
            self._llm = await asyncio.to_thread(build)
        except Exception as exc:
            self._dead_reason = _one_line(exc)
            raise base.EngineDeadError(f"vLLM failed to start: {self._dead_reason}") from exc
        mc = self._llm.model_config
        self._max_model_len = int(mc.max_model_len)
        from gateway.prompts import harmony

        self._harmony = harmony.is_harmony_model(getattr(mc, "hf_config", None))
        if self._harmony:
            await asyncio.to_thread(harmony.get_encoding)  # vocabulary check now, not at first request
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
            self._tok.pool.shutdown(wait=False)

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
                                           reasoning_effort=request.extra.get("reasoning_effort"))
            kwargs = {}
            for key in ("chat_template_kwargs",):
                if isinstance(request.extra.get(key), dict):
                    kwargs.update(request.extra[key])
            text = tok.render_chat_sync(request.messages, **kwargs)
            return tok.encode_sync(text, special=True, add_bos=False, release_gil=release_gil)
        # Completions: the text as given (FIM already rendered), BOS added as vLLM's server does.
        return tok.encode_sync(request.prompt or "", special=True, add_bos=True, release_gil=release_gil)

    def _sampling(self, request: base.GenerationRequest, prompt_len: int) -> Any:
        from vllm.sampling_params import RequestOutputKind, SamplingParams

        s = request.sampling
        room = self._max_model_len - prompt_len
        if room < 1:
            raise base.PromptTooLongError(prompt_len, self._max_model_len,
                                          "messages" if request.messages is not None else "prompt")
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
        specials = (self._tok._specials if self._tok is not None else None) or set()
        for st in s.stop or []:
            tid = self._tok.single_token_id(st) if st in specials and self._tok is not None else None
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
        try:
            return SamplingParams(**kw)
        except (ValueError, TypeError) as exc:
            raise ValueError(_one_line(exc)) from None

    async def generate(self, request: base.GenerationRequest) -> AsyncIterator[base.Delta]:
        llm = self._llm
        if llm is None:
            raise base.EngineError("the vLLM engine is not started")
        if not self.healthy:
            raise base.EngineDeadError(f"the vLLM engine is dead: {self._dead_reason or 'engine core errored'}")
        from vllm.v1.engine.exceptions import EngineDeadError as VllmDead
        from vllm.v1.engine.exceptions import EngineGenerateError

        size = len(request.prompt or "") + sum(len(str(m.get("content") or "")) for m in request.messages or [])
        if size > _INLINE_TOKENIZE_CHARS and self._tok is not None:
            prompt_ids = await self._tok.off_loop(self._prompt_ids, request, True)
        else:
            prompt_ids = self._prompt_ids(request)
        params = self._sampling(request, len(prompt_ids))
        parser = None
        if self._harmony and request.messages is not None:
            from gateway.prompts import harmony

            parser = harmony.HarmonyStreamParser()

        stream = llm.generate({"prompt_token_ids": prompt_ids}, params, request.request_id)
        n_out = 0
        finished = False
        try:
            async for out in stream:
                c = out.outputs[0]
                n_out += len(c.token_ids)
                if parser is not None:
                    text, reasoning = parser.feed(c.token_ids)
                else:
                    text, reasoning = c.text, ""
                if out.finished:
                    finished = True
                    if parser is not None:
                        t2, r2 = parser.finish()
                        text, reasoning = text + t2, reasoning + r2
                    reason = c.finish_reason or "stop"
                    if reason == "abort":
                        self._aborted += 1
                    yield base.Delta(
                        text=text, reasoning=reasoning, finish_reason=reason,
                        prompt_tokens=len(prompt_ids), completion_tokens=n_out,
                        cached_tokens=out.num_cached_tokens,
                    )
                elif text or reasoning:
                    yield base.Delta(text=text, reasoning=reasoning)
        except VllmDead as exc:
            self._mark_dead("engine core died")
            raise base.EngineDeadError("the vLLM engine died; restart the server") from exc
        except EngineGenerateError as exc:
            if self._llm is not None and self._llm.errored:
                self._mark_dead("engine core errored")
                raise base.EngineDeadError("the vLLM engine died; restart the server") from exc
            cause = exc.__cause__
            raise base.EngineError(f"vLLM failed on this request: {_one_line(cause or exc)}") from exc
        except ValueError as exc:  # vLLM's request validation
            if isinstance(exc, base.PromptTooLongError):
                raise
            raise ValueError(_one_line(exc)) from None
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
