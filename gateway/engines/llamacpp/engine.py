"""`LlamaCppEngine`: llama.cpp in-process through xllamacpp, for machines without a GPU.

`Server.handle_chat_completions/handle_completions(body, callback)` block while they generate
and call `callback(chunk)` per streamed chunk; returning True from the callback stops the
generation (our abort path). Each call runs in a worker thread; concurrent calls share
llama.cpp's parallel slots. The same Server also listens with llama.cpp's own HTTP API, which
the tokenizer (tokenizer.py) uses; listener.py keeps that listener private. xllamacpp is
imported when the model loads, never at module import.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Optional

from gateway.engines.base import (
    Delta,
    Engine,
    EngineError,
    EngineStats,
    GenerationRequest,
    ModelMetadata,
    ProgressCallback,
    RequestError,
    TokenLogprob,
    Tokenizer,
    ToolCallPiece,
)
from gateway.engines.default_model import (
    ModelFileError,
    check_gguf_file,
    default_model_path,
    verify_default_model,
)
from gateway.engines.gguf_metadata import MetadataOnce
from gateway.engines.llamacpp.kv_cache import kv_cache_bytes, mib
from gateway.engines.llamacpp.kv_pool import KVPool, prompt_byte_bound
from gateway.engines.llamacpp.listener import PrivateListener
from gateway.engines.llamacpp.serving_gate import ServingGate
from gateway.engines.llamacpp.slot_cache import SlotCache
from gateway.engines.llamacpp.stats import carried_totals, cpu_device, parse_prometheus
from gateway.engines.llamacpp.thread_tuner import ThreadTuner
from gateway.engines.llamacpp.threads import default_threads, set_spin_count
from gateway.engines.llamacpp.tokenizer import LlamaCppTokenizer
from gateway.engines.llamacpp import translate
from gateway.engines.llamacpp.tools import tool_call_piece, tool_definitions
from gateway.engines.tool_call_format import ToolCallReader

if TYPE_CHECKING:
    from gateway.settings import Settings

# One logger for the whole engine package: log lines read `gateway.engines.llamacpp: ...`.
log = logging.getLogger("gateway.engines.llamacpp")

_END = object()
# Runs again of a request that found the shared KV pool full before it sent anything.
POOL_FULL_RETRIES = 3
_DEFAULT_MODEL_TEMPLATE = Path(__file__).parent.parent / "templates" / "smollm2-tools.jinja"


class LlamaCppEngine(Engine):
    name = "llamacpp"
    stops_at_window = True  # a slot's generation ends at its context (finish "length")

    def __init__(self, settings: Settings):
        self._settings = settings
        self._cfg = settings.llamacpp
        self._server: Any = None
        self._tokenizer: Optional[LlamaCppTokenizer] = None
        # One worker thread per slot (admission never lets more generate at once), plus
        # headroom for aborted generations that leave at their next token.
        self._executor = ThreadPoolExecutor(
            max_workers=self._cfg.n_parallel + 4,
            thread_name_prefix="llamacpp",
        )
        self._stop_flags: dict[str, threading.Event] = {}
        self._aborted_total = 0
        self._lock = threading.Lock()
        self.model_path: Optional[Path] = None
        self.model_name = "unloaded"
        self.listening_address: Optional[str] = None
        # llama.cpp's own listener: a Unix socket in a private directory, behind a random key.
        self._listener = PrivateListener(props=True, slots=True)
        self._template_tools = False
        self._metadata = MetadataOnce()
        self.kv_cache_bytes: Optional[int] = None  # the KV pool's size, from the model's header
        # Runs of llama.cpp in flight (the KV pool frees when they end), and their end's signal.
        self._in_llama: set[object] = set()
        self._left_llama = asyncio.Event()
        self._retry_lock = asyncio.Lock()
        self._pool = KVPool(self._cfg.kv_pool_tokens)
        # Every use of the server passes this gate; a restart with another thread count closes it.
        self._gate = ServingGate()
        self._threads = self._cfg.n_threads or default_threads()
        self._tuner: Optional[ThreadTuner] = None
        self._carried: dict[str, float] = {}  # llama.cpp's *_total counters of replaced servers
        self._slot_cache = SlotCache(self._cfg.n_parallel)
        set_spin_count(self._cfg.spin_count)

    @property
    def capacity(self) -> int:
        return self._cfg.n_parallel

    @property
    def calls_tools(self) -> bool:
        return self._template_tools  # llama.cpp reads the calls in the template's own format

    async def prompt_logprobs(self, prompt: str, alternatives: int) -> list[TokenLogprob]:
        # llama.cpp's server reports only sampled tokens' log probabilities. Each prompt token's
        # is that of the token forced next (a logit bias; llama.cpp reports the probability
        # from the unbiased logits) after the tokens before it, whose cache the slot keeps.
        async with self._gate.admitted():
            ids = await self.tokenizer.encode_prompt(prompt)
            if not ids:
                return []
            first = await self.tokenizer.decode(ids[:1])
            loop = asyncio.get_running_loop()
            out = [TokenLogprob(token=first, logprob=None)]
            for i in range(1, len(ids)):
                body = translate.forced_token_body(ids[:i], ids[i], alternatives)
                answer = await loop.run_in_executor(self._executor, self._server.handle_completions, body)
                out.append(translate.forced_token_logprob(answer, alternatives))
            return out

    async def model_metadata(self) -> Optional[ModelMetadata]:
        return await self._metadata.get(self.model_path)

    @property
    def tokenizer(self) -> Tokenizer:
        assert self._tokenizer is not None, "engine not started"
        return self._tokenizer

    def _resolve_model(self) -> Path:
        if self._settings.model.path:
            path = Path(self._settings.model.path).expanduser()
            check_gguf_file(path)
            return path
        return default_model_path()

    def check_model(self) -> None:
        """Find the model file (fast: done before the server listens, so a typo fails at once)."""
        if self.model_path is None:
            self.model_path = self._resolve_model()
            self.model_name = self.model_path.name.removesuffix(".gguf")

    async def start(self, progress: Optional[ProgressCallback] = None) -> None:
        report = progress or (lambda msg, frac: None)
        loop = asyncio.get_running_loop()
        self.check_model()
        path = self.model_path
        assert path is not None
        if not self._settings.model.path and self._cfg.verify_model:
            report(f"verifying the sha256 of {path.name}", 0.1)
            await loop.run_in_executor(None, verify_default_model, path)
        # llama.cpp holds the GIL while it loads, so the server cannot answer until it is done.
        report(f"loading {path.name} ({path.stat().st_size / 2**20:.0f} MiB)", 0.3)
        self._server = await loop.run_in_executor(None, self._load, path)
        self.listening_address = self._server.listening_address
        self.kv_cache_bytes = kv_cache_bytes(path, self._cfg.kv_pool_tokens, self._cfg.cache_type)
        log.info("KV cache: one pool of %d tokens (%s, %s) shared by %d slots, each conversation up to %d",
                 self._cfg.kv_pool_tokens, self._cfg.cache_type,
                 "size unknown" if self.kv_cache_bytes is None else mib(self.kv_cache_bytes),
                 self._cfg.n_parallel, self._cfg.context_per_slot)
        log.info("llama.cpp computes with %d CPU thread(s), %d for batches, of %d CPUs",
                 self.threads, self.threads_batch, len(os.sched_getaffinity(0)))
        log.info("llama.cpp's own server listens on %s (private socket with a key; used for tokenization)",
                 self.listening_address)
        self._tokenizer = LlamaCppTokenizer(self._listener, self._cfg.context_per_slot, self._gate)
        self._template_tools = await self._tokenizer.template_renders_tools()
        if self._cfg.tunes_threads:
            tuner = ThreadTuner(self, self._cfg.thread_candidates, self._cfg.spin_count)
            if tuner.candidates != [self._threads]:
                self._tuner = tuner
                tuner.start()
                log.info("thread count: measured among %s while idle (llamacpp.thread_tuning)",
                         ", ".join(map(str, tuner.candidates)))
        report("model loaded", 1.0)

    @property
    def settings_section(self) -> Any:
        """The `llamacpp` settings (the thread tuner reads the probe's from them)."""
        return self._cfg

    @property
    def idle(self) -> bool:
        """No request or tokenization uses llama.cpp now and no restart runs."""
        return self._gate.idle and not self._stop_flags and not self._in_llama

    def idle_for(self) -> float:
        """Seconds since llama.cpp was last used (0 while it is)."""
        return self._gate.idle_for() if self.idle else 0.0

    async def switch_threads(self, n_threads: int) -> float:
        """Restarts the embedded server with n_threads per token; the seconds it took. Requests
        that arrive meanwhile wait at the gate and run on the new server. The slots' KV cache
        moves to the new server (slot_cache.py); the rest of llama.cpp's RAM prompt cache is lost."""
        if not self.idle:  # a request admitted would wait for the gate it holds open
            raise RuntimeError("switch_threads while a request runs")
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        async with self._gate.closed():
            assert self._tokenizer is not None and self.model_path is not None
            await self._tokenizer.reconnect()
            # The slots' KV cache (each slot's last conversation) is saved to files and
            # restored into the new server, so their next requests find it again.
            kept = await self._slot_cache.save(self._listener)
            # The old server (its KV cache, threads and listener) goes before the new one loads,
            # so memory never holds two; its counters stay counted.
            metrics = await loop.run_in_executor(None, self._server.handle_metrics)
            self._carried = carried_totals(self._carried, parse_prometheus(metrics if isinstance(metrics, str) else ""))
            self._server = None
            self._listener.remove()
            previous, self._threads = self._threads, n_threads
            try:
                self._server = await loop.run_in_executor(None, self._load, self.model_path)
            except Exception:
                self._threads = previous
                self._server = await loop.run_in_executor(None, self._load, self.model_path)
                raise
            finally:
                self.listening_address = self._server.listening_address if self._server else None
                await self._slot_cache.restore(self._listener, kept)
        return time.perf_counter() - start

    @property
    def threads(self) -> int:
        """The CPU threads llama.cpp generates with now (llamacpp.n_threads; 0: half the CPUs at
        first, then the count the thread tuner measured best)."""
        return self._threads

    @property
    def threads_batch(self) -> int:
        """The CPU threads for a batch of several tokens (llamacpp.n_threads_batch; 0: every CPU)."""
        return self._cfg.n_threads_batch or len(os.sched_getaffinity(0))

    def _load(self, path: Path) -> Any:
        import xllamacpp as xl

        params = self.params(path)
        try:
            return xl.Server(params)
        except Exception as exc:  # llama.cpp reports a bad GGUF as a generic runtime error
            raise ModelFileError(f"cannot load {path}: {exc}") from None

    def params(self, path: Path) -> Any:
        """llama.cpp's parameters (xllamacpp's CommonParams) for this model and these settings."""
        import xllamacpp as xl

        params = xl.CommonParams()
        params.model.path = str(path)
        params.n_parallel = self._cfg.n_parallel
        # One KV pool for all slots (llama.cpp's unified KV cache), each slot capped at one
        # window: memory for context_total tokens instead of n_parallel whole windows. Idle
        # slots' cache moves to the prompt cache (cache_ram_mib) when a new request comes.
        params.kv_unified = True
        params.n_ctx = self._cfg.kv_pool_tokens
        params.kv_unified_per_slot = self._cfg.context_per_slot
        cache_type = getattr(xl.ggml_type, f"GGML_TYPE_{self._cfg.cache_type.upper()}")
        params.cache_type_k = params.cache_type_v = cache_type
        params.n_gpu_layers = self._cfg.n_gpu_layers
        params.endpoint_metrics = True
        params.verbosity = self._cfg.log_verbosity
        params.cache_ram_mib = self._cfg.cache_ram_mib
        if self._cfg.rope_scale > 1:
            params.rope_scaling_type = xl.llama_rope_scaling_type.LLAMA_ROPE_SCALING_TYPE_YARN
            params.rope_freq_scale = 1 / self._cfg.rope_scale
        self._listener.configure(params)
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads_batch
        template = self._chat_template_file()
        if template is not None:
            params.chat_template = template.read_text()
        return params

    def _chat_template_file(self) -> Optional[Path]:
        if self._cfg.chat_template_file:
            path = Path(self._cfg.chat_template_file).expanduser()
            if not path.is_file():
                raise ModelFileError(f"llamacpp.chat_template_file: no such file: {path}")
            return path
        return None if self._settings.model.path else _DEFAULT_MODEL_TEMPLATE

    async def _forced_tool_prompt(self, request: GenerationRequest) -> Optional[str]:
        """The chat prompt with the tools shown, when the model must call one; else None."""
        if not request.tools or request.messages is None:
            return None
        if not self._template_tools:
            raise RequestError(
                "tools: this model's chat template does not show tools to the model; set "
                "llamacpp.chat_template_file to a template that does",
                param="tools",
            )
        if not request.tool_choice.forced:
            return None
        return await self.tokenizer.apply_chat_template(request.messages, tools=tool_definitions(request.tools))

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        if self._server is None:
            raise EngineError("engine not started")
        async with self._gate.admitted():
            async with contextlib.aclosing(self._generate_admitted(request)) as deltas:
                async for delta in deltas:
                    yield delta

    async def _generate_admitted(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        stop = threading.Event()
        self._stop_flags[request.request_id] = stop
        try:
            forced_prompt = await self._forced_tool_prompt(request)
            need = await self._pool_need(request, forced_prompt)
            async with self._pool.holding(need), contextlib.AsyncExitStack() as retrying:
                for attempt in range(POOL_FULL_RETRIES + 1):
                    started = False
                    try:
                        async with contextlib.aclosing(self._generate_once(request, forced_prompt, stop)) as once:
                            async for delta in once:
                                started = True
                                yield delta
                        return
                    except translate.PoolFullError:
                        if started or attempt == POOL_FULL_RETRIES:
                            raise EngineError(self._pool_full_message()) from None
                    # Nothing was sent yet: wait for the pool to empty and run again. Retries
                    # go one at a time, or two would fill the pool again together.
                    if attempt == 0:
                        await retrying.enter_async_context(self._retry_lock)
                    log.info("KV cache pool full (%d tokens): request %s waits for it to empty",
                             self._cfg.kv_pool_tokens, request.request_id)
                    await self._pool_emptied()
        finally:
            # Reached on normal end, on error and when the consumer goes away (aclose or
            # cancellation): the next token callback sees the flag and stops llama.cpp.
            stop.set()
            self._stop_flags.pop(request.request_id, None)

    async def _pool_need(self, request: GenerationRequest, forced_prompt: Optional[str]) -> int:
        """The tokens of the shared KV pool this run may fill (kv_pool.py says how)."""
        window = self._cfg.context_per_slot
        limit = request.sampling.max_tokens
        growth = limit if limit is not None else self._cfg.kv_pool_tokens // self._cfg.n_parallel
        bound = prompt_byte_bound(request, forced_prompt)
        if self._pool.fits(min(window, bound + growth)):
            return min(window, bound + growth)
        if forced_prompt is not None or request.messages is None:
            text = forced_prompt if forced_prompt is not None else request.prompt or ""
        else:
            tools = tool_definitions(request.tools) if request.tools and self._template_tools else None
            try:
                text = await self.tokenizer.apply_chat_template(request.messages, **({"tools": tools} if tools else {}))
            except Exception:  # what llama.cpp refuses is reported by the run itself (a 400)
                return min(window, bound + growth)
        return min(window, len(await self.tokenizer.encode_prompt(text)) + growth)

    def _pool_full_message(self) -> str:
        return (f"the KV cache pool (llamacpp.context_total, {self._cfg.kv_pool_tokens} tokens) filled up "
                f"with several long conversations at once; raise llamacpp.context_total (up to "
                f"n_parallel x context_per_slot = {self._cfg.n_parallel * self._cfg.context_per_slot})")

    async def _pool_emptied(self) -> None:
        """Until no generation is in llama.cpp (their KV cache then leaves the pool)."""
        while self._in_llama:
            self._left_llama.clear()
            await self._left_llama.wait()

    async def _generate_once(self, request: GenerationRequest, forced_prompt: Optional[str],
                             stop: threading.Event) -> AsyncIterator[Delta]:
        """One run of llama.cpp for the request (translate.PoolFullError: the shared KV pool
        was full)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        chat = request.messages is not None and forced_prompt is None
        handler = self._server.handle_chat_completions if chat else self._server.handle_completions
        body = translate.request_body(request, forced_prompt)
        reader = ToolCallReader() if forced_prompt is not None else None

        def deliver(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is gone (shutdown): nobody is listening
                stop.set()

        def on_chunk(chunk: dict) -> bool:
            if stop.is_set():
                with self._lock:
                    self._aborted_total += 1
                return True  # tells llama.cpp to stop generating and free the slot
            deliver(chunk)
            return False

        def run() -> None:
            if stop.is_set():  # cancelled while waiting for a worker: never start it
                deliver(_END)
                return
            try:
                result = handler(body, on_chunk)
                if isinstance(result, dict) and "error" in result:
                    deliver(result)
            except Exception as exc:  # surfaced to the consumer as an engine error
                deliver(exc)
            finally:
                deliver(_END)

        token = object()  # this run, in llama.cpp until its end arrives
        self._in_llama.add(token)
        self._executor.submit(run)
        prompt_tokens = completion_tokens = cached = None
        finish: Optional[str] = None
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    self._in_llama.discard(token)
                    break
                if isinstance(item, Exception):
                    raise translate.refusal(item, request) or EngineError(f"llama.cpp failed: {item}")
                if "error" in item:
                    raise translate.engine_error(item["error"], request)
                usage = item.get("usage")
                if usage:
                    prompt_tokens = usage.get("prompt_tokens")
                    completion_tokens = usage.get("completion_tokens")
                    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
                for choice in item.get("choices") or ():
                    calls: list[ToolCallPiece] = []
                    if chat:
                        delta = choice.get("delta") or {}
                        text, reasoning = delta.get("content") or "", delta.get("reasoning_content") or ""
                        calls = [tool_call_piece(c) for c in delta.get("tool_calls") or ()]
                    else:
                        text, reasoning = choice.get("text") or "", ""
                    if reader is not None:
                        calls, text = reader.feed(text), ""
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                    logprobs = translate.logprobs(choice.get("logprobs"), request.logprobs or 0)
                    if text or reasoning or calls or logprobs:
                        yield Delta(text=text, reasoning=reasoning, tool_calls=calls, logprobs=logprobs)
            if reader is not None and reader.calls and finish != "length":
                finish = "tool_calls"
            yield Delta(
                finish_reason=finish or "stop",
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cached_tokens=cached,
            )
        finally:
            self._in_llama.discard(token)
            self._left_llama.set()

    async def abort(self, request_id: str) -> None:
        flag = self._stop_flags.get(request_id)
        if flag is not None:
            flag.set()

    async def stats(self) -> EngineStats:
        counters: dict[str, float] = {}
        # Not through the gate: a stats poll (the chat page's, every 3 s) is no use of the model
        # and must not stop a thread probe. The server and the counters carried from those it
        # replaced are taken together, so a restart meanwhile counts nothing twice.
        server, carried = self._server, self._carried
        if server is not None:
            text = await asyncio.get_running_loop().run_in_executor(None, server.handle_metrics)
            counters = parse_prometheus(text if isinstance(text, str) else "")
        for name, value in carried.items():
            counters[name] = counters.get(name, 0.0) + value
        counters["n_threads"] = float(self._threads)
        if self._tuner is not None:
            counters["thread_switches_total"] = float(self._tuner.switches)
        with self._lock:
            counters["requests_aborted_total"] = float(self._aborted_total)
        counters["kv_cache_tokens"] = float(self._cfg.kv_pool_tokens)
        counters["kv_cache_reserved_tokens"] = float(self._pool.reserved)
        counters["kv_pool_waits_total"] = float(self._pool.waited_total)
        if self.kv_cache_bytes is not None:
            counters["kv_cache_bytes"] = float(self.kv_cache_bytes)
        return EngineStats(
            engine=self.name,
            model=self.model_name,
            running=len(self._stop_flags),
            waiting=int(counters.get("requests_deferred", 0)),
            devices=[cpu_device()],
            counters=counters,
        )

    async def stop(self) -> None:
        if self._tuner is not None:
            await self._tuner.stop()
        for flag in list(self._stop_flags.values()):
            flag.set()
        loop = asyncio.get_running_loop()
        # Let worker threads leave llama.cpp before the Server is destroyed under them.
        await loop.run_in_executor(None, self._executor.shutdown, True)
        if self._tokenizer is not None:
            await self._tokenizer.close()
        self._server = None
        self._listener.remove()
