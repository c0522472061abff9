"""The embedded engine: llama.cpp in-process through xllamacpp, for machines without a GPU.

`Server.handle_chat_completions/handle_completions(body, callback)` block while they generate
and call `callback(chunk)` per streamed chunk; returning True from the callback stops the
generation (our abort path). Each call runs in a worker thread; concurrent calls share
llama.cpp's parallel slots. The same Server also listens on a loopback port with llama.cpp's
own HTTP API, which we use for tokenization and chat templates (the model's own, from its
GGUF metadata); xllamacpp has no in-process call for those. That listener must not be a second
door to the model (no key, no admission, CORS for any origin): it listens on a Unix socket in
a private directory (mode 0700, so no web page, LAN host or other local user can connect) and
requires a random key only this process knows.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Optional

import aiohttp
import psutil
from pydantic import Field

from gateway.engines.base import (
    Delta,
    Engine,
    EngineError,
    EngineStats,
    GenerationRequest,
    ProgressCallback,
    PromptTooLongError,
    RequestError,
    Tokenizer,
    TokenLogprob,
    ToolCallPiece,
)
from gateway.engines.default_model import (
    ModelFileError,
    check_gguf_file,
    default_model_path,
    verify_default_model,
)
from gateway.engines.llamacpp_listener import PrivateListener
from gateway.engines.registry import EngineSpec
from gateway.engines.tool_call_format import ToolCallReader, call_grammar
from gateway.settings_section import Section
from gateway.prompts.tokenizer import check_ids

if TYPE_CHECKING:
    from gateway.settings import Settings

log = logging.getLogger(__name__)

_END = object()


class LlamaCppSettings(Section):
    # Parallel sequences (llama.cpp slots); each gets context_per_slot tokens of KV cache.
    n_parallel: int = Field(4, ge=1, le=64)
    context_per_slot: int = Field(8192, ge=256)
    # CPU threads llama.cpp generates with, one token of one stream at a time; 0 = half the
    # CPUs this process may use, at least 1 (llama.cpp's own default is every physical core).
    # llama.cpp's threads wait for each other at every step, so when another program holds
    # one of their cores, all of them wait: on a shared machine fewer threads are much faster.
    n_threads: int = Field(0, ge=0)
    # CPU threads for a batch of several tokens (a prompt, or one step of several streams,
    # where a second thread pays off); 0 = every CPU this process may use.
    n_threads_batch: int = Field(0, ge=0)
    # How long llama.cpp's threads spin waiting for each other at each step before they sleep,
    # in spins of OpenMP's wait loop (GOMP_SPINCOUNT). libgomp's own default, 300000, is
    # milliseconds: a thread whose partner lost its core to another program burns its own
    # core meanwhile. Empty: libgomp's default (or GOMP_SPINCOUNT from the environment).
    spin_count: Optional[int] = Field(1000, ge=0)
    # GPU layers when xllamacpp was built with a GPU backend; 0 on CPU.
    n_gpu_layers: int = Field(0, ge=-1)
    # Check the default model's sha256 before the first load.
    verify_model: bool = True
    # llama.cpp log verbosity (-1 = quiet but errors, 3 = everything).
    log_verbosity: int = Field(-1, ge=-1, le=4)
    # A Jinja chat template file used instead of the model's own (e.g. one that renders tools).
    # Empty: the model's own; for the default model, its own template extended with tools
    # (gateway/engines/templates/smollm2-tools.jinja).
    chat_template_file: Optional[str] = None
    # RAM for llama.cpp's prompt cache (finished sequences' KV cache, reused by later prompts
    # that share a prefix), in MiB; 0 turns it off. xllamacpp's own default is 8 GiB.
    cache_ram_mib: int = Field(512, ge=0, le=1 << 20)
    # Stretch the model's trained context this many times by YaRN RoPE scaling (llama.cpp's
    # --rope-scaling yarn --rope-scale N); llama.cpp caps a slot at the trained context
    # otherwise. 1: off. For agents whose prompts outgrow a small model's window.
    rope_scale: float = Field(1.0, ge=1.0, le=64.0)

# Sampling fields whose llama.cpp name differs from the OpenAI/vLLM one.
_RENAMED = {"repetition_penalty": "repeat_penalty"}
_DEFAULT_MODEL_TEMPLATE = Path(__file__).parent / "templates" / "smollm2-tools.jinja"


class LlamaCppTokenizer(Tokenizer):
    """The model's tokenizer and chat template, through llama.cpp's loopback listener."""

    def __init__(self, listener: PrivateListener, context_length: int):
        self._listener = listener
        self.context_length = context_length
        self._session: Optional[aiohttp.ClientSession] = None
        self._special: Optional[set[str]] = None
        self._n_vocab: Optional[int] = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = self._listener.session()
        return self._session

    async def _post(self, path: str, body: dict) -> Any:
        # Every call here is idempotent (tokenize, detokenize, templates): a pooled connection
        # that the server closed as it was reused is retried once on a fresh one.
        for attempt in (1, 2):
            try:
                async with self._client().post("http://llama.cpp" + path, json=body) as resp:
                    resp.raise_for_status()
                    return await resp.json()
            except aiohttp.ServerDisconnectedError:
                if attempt == 2:
                    raise

    async def encode(self, text: str, *, special: bool = True) -> list[int]:
        out = await self._post("/tokenize", {"content": text, "add_special": False, "parse_special": special})
        return out["tokens"]

    async def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        out = await self._post("/apply-template", {"messages": messages, **kwargs})
        return out["prompt"]

    async def encode_prompt(self, text: str) -> list[int]:
        return (await self._post("/tokenize", {"content": text, "add_special": True, "parse_special": True}))["tokens"]

    async def decode(self, tokens: list[int]) -> str:
        # llama.cpp does not check ids: one outside the vocabulary is an exception (a 500) there.
        check_ids(tokens, await self._vocab_size())
        return (await self._post("/detokenize", {"tokens": tokens}))["content"]

    async def _vocab_size(self) -> int:
        if self._n_vocab is None:
            async with self._client().get("http://llama.cpp/v1/models") as resp:
                resp.raise_for_status()
                self._n_vocab = int((await resp.json())["data"][0]["meta"]["n_vocab"])
        return self._n_vocab

    async def template_renders_tools(self) -> bool:
        """Whether the chat template shows tools to the model (llama.cpp's own analysis of it)."""
        async with self._client().get("http://llama.cpp/props") as resp:
            resp.raise_for_status()
            props = await resp.json()
        return bool((props.get("chat_template_caps") or {}).get("supports_tools"))

    async def special_tokens(self) -> set[str]:
        """The known control tokens (FIM, file, chat markers) this vocabulary has as single tokens.

        llama.cpp's API has no vocabulary listing, so each candidate is tokenized with special
        parsing on: a control token comes back as one token whose piece is itself.
        """
        if self._special is None:
            from gateway.prompts.fim import FAMILIES

            candidates = {t for fam in FAMILIES.values() for t in (*fam.detect_tokens, *fam.stop)}
            found = set()
            for token in sorted(candidates):
                out = await self._post("/tokenize", {"content": token, "parse_special": True, "with_pieces": True})
                pieces = out["tokens"]
                if len(pieces) == 1 and pieces[0].get("piece") == token:
                    found.add(token)
            self._special = found
        return self._special

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


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
        self._listener = PrivateListener(props=True)
        self._template_tools = False
        _set_spin_count(self._cfg.spin_count)

    @property
    def capacity(self) -> int:
        return self._cfg.n_parallel

    @property
    def calls_tools(self) -> bool:
        return self._template_tools  # llama.cpp reads the calls in the template's own format

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
        log.info("llama.cpp computes with %d CPU thread(s), %d for batches, of %d CPUs",
                 self.threads, self.threads_batch, len(os.sched_getaffinity(0)))
        log.info("llama.cpp's own server listens on %s (private socket with a key; used for tokenization)",
                 self.listening_address)
        self._tokenizer = LlamaCppTokenizer(self._listener, self._cfg.context_per_slot)
        self._template_tools = await self._tokenizer.template_renders_tools()
        report("model loaded", 1.0)

    @property
    def threads(self) -> int:
        """The CPU threads llama.cpp generates with (llamacpp.n_threads; 0: half the CPUs)."""
        return self._cfg.n_threads or default_threads()

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
        params.n_ctx = self._cfg.context_per_slot * self._cfg.n_parallel
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

    def _body(self, request: GenerationRequest, forced_prompt: Optional[str] = None) -> dict[str, Any]:
        """llama.cpp's request body. A forced tool call is a completion of the chat prompt
        (rendered with the tools) under the tool-call grammar; everything else is llama.cpp's
        own chat or completion request."""
        body: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}
        if forced_prompt is not None:
            body["prompt"] = forced_prompt
            tools = request.tools
            if request.tool_choice.mode == "function":
                tools = [t for t in tools if t["name"] == request.tool_choice.name]
            body["grammar"] = call_grammar(tools)
        elif request.messages is not None:
            body["messages"] = request.messages
            if request.extra.get("reasoning_effort"):
                # For templates that take it (gpt-oss GGUFs); others render without it.
                body["chat_template_kwargs"] = {"reasoning_effort": request.extra["reasoning_effort"]}
            if request.tools:
                body["tools"] = _tool_definitions(request.tools)
                body["tool_choice"] = request.tool_choice.mode
                body["parallel_tool_calls"] = request.parallel_tool_calls
        else:
            body["prompt"] = request.prompt
        fmt = request.response_format
        if fmt is not None and "messages" in body:
            body["response_format"] = (
                {"type": "json_object"}
                if fmt.schema is None
                else {"type": "json_schema", "json_schema": {"name": fmt.name or "output", "schema": fmt.schema}}
            )
        elif fmt is not None and forced_prompt is None:
            # llama.cpp's completion endpoint reads the schema from `json_schema`, not response_format.
            body["json_schema"] = fmt.schema if fmt.schema is not None else {"type": "object"}
        if request.logprobs is not None:
            if request.messages is not None and forced_prompt is None:
                body["logprobs"] = True
                body["top_logprobs"] = request.logprobs
            else:
                body["logprobs"] = request.logprobs
        for name, value in vars(request.sampling).items():
            if value is None or (name == "stop" and not value):
                continue
            body[_RENAMED.get(name, name)] = value
        if request.extra.get("ignore_eos"):
            body["ignore_eos"] = True
        return body

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
        return await self.tokenizer.apply_chat_template(request.messages, tools=_tool_definitions(request.tools))

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        if self._server is None:
            raise EngineError("engine not started")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        self._stop_flags[request.request_id] = stop
        forced_prompt = await self._forced_tool_prompt(request)
        chat = request.messages is not None and forced_prompt is None
        handler = self._server.handle_chat_completions if chat else self._server.handle_completions
        body = self._body(request, forced_prompt)
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

        self._executor.submit(run)
        prompt_tokens = completion_tokens = cached = None
        finish: Optional[str] = None
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, Exception):
                    raise _refusal(item, request) or EngineError(f"llama.cpp failed: {item}")
                if "error" in item:
                    self._raise_engine_error(item["error"], request)
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
                        calls = [_tool_call_piece(c) for c in delta.get("tool_calls") or ()]
                    else:
                        text, reasoning = choice.get("text") or "", ""
                    if reader is not None:
                        calls, text = reader.feed(text), ""
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                    logprobs = _logprobs(choice.get("logprobs"))
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
            # Reached on normal end, on error and when the consumer goes away (aclose or
            # cancellation): the next token callback sees the flag and stops llama.cpp.
            stop.set()
            self._stop_flags.pop(request.request_id, None)

    @staticmethod
    def _raise_engine_error(error: dict, request: GenerationRequest) -> None:
        if error.get("type") == "exceed_context_size_error":
            param = "messages" if request.messages is not None else "prompt"
            raise PromptTooLongError(error.get("n_prompt_tokens", 0), error.get("n_ctx", 0), param)
        if error.get("code") == 400:
            message = error.get("message", "invalid request")
            raise RequestError(message, param=_param_in(message, request))
        raise EngineError(error.get("message", "llama.cpp error"))

    async def abort(self, request_id: str) -> None:
        flag = self._stop_flags.get(request_id)
        if flag is not None:
            flag.set()

    async def stats(self) -> EngineStats:
        counters: dict[str, float] = {}
        if self._server is not None:
            text = await asyncio.get_running_loop().run_in_executor(None, self._server.handle_metrics)
            counters = _parse_prometheus(text if isinstance(text, str) else "")
        with self._lock:
            counters["requests_aborted_total"] = float(self._aborted_total)
        process = psutil.Process(os.getpid())
        return EngineStats(
            engine=self.name,
            model=self.model_name,
            running=len(self._stop_flags),
            waiting=int(counters.get("requests_deferred", 0)),
            devices=[
                {
                    "name": "cpu",
                    "used_bytes": process.memory_info().rss,
                    "total_bytes": psutil.virtual_memory().total,
                }
            ],
            counters=counters,
        )

    async def stop(self) -> None:
        for flag in list(self._stop_flags.values()):
            flag.set()
        loop = asyncio.get_running_loop()
        # Let worker threads leave llama.cpp before the Server is destroyed under them.
        await loop.run_in_executor(None, self._executor.shutdown, True)
        if self._tokenizer is not None:
            await self._tokenizer.close()
        self._server = None
        self._listener.remove()


def _set_spin_count(spins: Optional[int]) -> None:
    """OpenMP (libgomp, which llama.cpp's CPU backend runs its threads on) reads its spin count
    from the environment once, when it is loaded: set it before xllamacpp is first imported."""
    if spins is None:
        return
    if _libgomp_loaded():
        if os.environ.get("GOMP_SPINCOUNT") != str(spins):
            log.warning("llamacpp.spin_count: OpenMP is already loaded in this process; "
                        "set GOMP_SPINCOUNT=%d in the environment instead", spins)
        return
    os.environ["GOMP_SPINCOUNT"] = str(spins)


def _libgomp_loaded() -> bool:
    try:
        return "libgomp" in Path("/proc/self/maps").read_text()
    except OSError:  # no /proc (not Linux): the environment is all there is
        return False


def default_threads() -> int:
    """Half the CPUs this process may use, at least one: the rest stay free for the editor and
    whatever else runs beside (bench/gateway_vs_llamacpp.py --contention measures why)."""
    return max(1, len(os.sched_getaffinity(0)) // 2)


def _tool_definitions(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": tool} for tool in tools]


def _tool_call_piece(call: dict[str, Any]) -> ToolCallPiece:
    """llama.cpp's streamed tool-call delta (OpenAI's shape) as a neutral piece."""
    function = call.get("function") or {}
    return ToolCallPiece(
        index=call.get("index", 0),
        id=call.get("id") or None,
        name=function.get("name") or None,
        arguments=function.get("arguments") or "",
    )


def _logprob(entry: dict[str, Any]) -> TokenLogprob:
    return TokenLogprob(token=entry.get("token", ""), logprob=float(entry.get("logprob", 0.0)), bytes=entry.get("bytes"))


def _logprobs(block: Optional[dict[str, Any]]) -> list[TokenLogprob]:
    """llama.cpp's `logprobs.content` (OpenAI's chat shape, completions too) as neutral entries."""
    out = []
    for entry in (block or {}).get("content") or ():
        item = _logprob(entry)
        item.top = [_logprob(t) for t in entry.get("top_logprobs") or ()]
        out.append(item)
    return out


def _refusal(exc: Exception, request: GenerationRequest) -> Optional[RequestError]:
    """An exception llama.cpp raises before generating, about what the request holds (a 400, not
    the engine failing): a history tool call whose arguments are not JSON (llama.cpp parses them
    to render the template), a combination it refuses (ValueError)."""
    message = str(exc)
    if "tool call arguments" in message:
        return RequestError(f"messages: an assistant message's tool_calls[].function.arguments is not JSON: {message}",
                            param="messages")
    if isinstance(exc, ValueError):
        return RequestError(message, param=_param_in(message, request))
    return None


def _param_in(message: str, request: GenerationRequest) -> Optional[str]:
    """The request field a llama.cpp refusal is about, when its message tells."""
    lowered = message.lower()
    if request.response_format is not None and ("schema" in lowered or "grammar" in lowered):
        return "response_format"
    if "logprobs" in lowered:
        return "logprobs"
    if "tool" in lowered:
        return "tools"
    return None


def _parse_prometheus(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition(" ")
        try:
            out[name.removeprefix("llamacpp:")] = float(value)
        except ValueError:
            continue
    return out


def _doctor(settings: "Settings") -> list[tuple[bool, str]]:
    lines = []
    try:
        import xllamacpp

        lines.append((True, f"xllamacpp {xllamacpp.__version__} (embedded engine)"))
    except ImportError:
        lines.append((False, "xllamacpp is missing: pip install . (in the oss-sidecar source folder)"))
    try:
        path = default_model_path()
        verify_default_model(path)
        lines.append((True, f"default model {path} (sha256 verified)"))
    except ModelFileError as exc:
        lines.append((False, str(exc)))
    return lines


ENGINE = EngineSpec(
    name="llamacpp",
    summary="embedded llama.cpp (xllamacpp) on the CPU; any GGUF, SmolLM2-135M-Instruct by default",
    settings=LlamaCppSettings,
    build=LlamaCppEngine,
    doctor=_doctor,
)
