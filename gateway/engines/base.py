"""The one engine protocol. Serving talks to this and never knows which engine runs.

An engine checks its model quickly before the server listens (`check_model`), loads it
(`start`), streams `Delta`s for a `GenerationRequest` (`generate`), aborts a request by id
(`abort`), exposes the model's `tokenizer`, says how many sequences it runs at once
(`capacity`) and on what (`device_kind`), reports `stats()`, and releases everything on
`stop()`. Engines are found through gateway.engines.registry.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Literal, Optional

from gateway.prompts.tokenizer import PromptTooLongError, TokenIdError, Tokenizer, check_ids

__all__ = [
    "Delta", "Engine", "EngineDeadError", "RequestError", "EngineError", "EngineStats", "GenerationRequest",
    "ProgressCallback", "PromptTooLongError", "ResponseFormat", "SamplingParams", "TokenLogprob",
    "TokenIdError", "Tokenizer", "ToolCallPiece", "ToolChoice", "UpstreamError", "check_ids",
]


class EngineError(Exception):
    """The engine failed on a request (not the client's fault)."""


class EngineDeadError(EngineError):
    """The engine can no longer serve; /health turns 503."""


class UpstreamError(EngineError):
    """A server the engine forwards to failed, misbehaved or is busy: its fault, not the
    client's. `status` is what the client gets: 502 (bad answer), 503 (none up), or 429 (all
    busy, passed on with the upstream's Retry-After)."""

    def __init__(self, message: str, status: int = 502, retry_after: Optional[str] = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RequestError(ValueError):
    """The engine cannot do what the request asks (a 400 naming `param`)."""

    def __init__(self, message: str, param: Optional[str] = None):
        super().__init__(message)
        self.param = param


@dataclass
class SamplingParams:
    max_tokens: Optional[int] = None
    temperature: Optional[float] = None
    top_p: Optional[float] = None
    top_k: Optional[int] = None
    min_p: Optional[float] = None
    repetition_penalty: Optional[float] = None
    presence_penalty: Optional[float] = None
    frequency_penalty: Optional[float] = None
    seed: Optional[int] = None
    stop: list[str] = field(default_factory=list)
    # llama.cpp's samplers beyond vLLM's (its server's own fields); an engine without them
    # refuses a request that sets them (a RequestError naming the field).
    typical_p: Optional[float] = None
    mirostat: Optional[int] = None
    mirostat_tau: Optional[float] = None
    mirostat_eta: Optional[float] = None


@dataclass
class ToolChoice:
    """Which tool calls the model may or must make: "none", "auto", "required", or "function"
    (must call the one named `name`)."""

    mode: Literal["none", "auto", "required", "function"] = "auto"
    name: Optional[str] = None

    @property
    def forced(self) -> bool:
        return self.mode in ("required", "function")


@dataclass
class ResponseFormat:
    """Constrained output: any JSON object, or JSON valid against `schema`."""

    kind: Literal["json_object", "json_schema"]
    schema: Optional[dict[str, Any]] = None
    name: Optional[str] = None


@dataclass
class GenerationRequest:
    """One generation. Exactly one of `messages` (chat) or `prompt` (raw text, FIM already rendered)."""

    request_id: str
    sampling: SamplingParams
    messages: Optional[list[dict[str, Any]]] = None
    prompt: Optional[str] = None
    # Engine-specific passthrough (e.g. reasoning_effort for harmony models).
    extra: dict[str, Any] = field(default_factory=dict)
    # Function tools, each {"name", "description"?, "parameters"?} (JSON Schema parameters).
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    parallel_tool_calls: bool = True
    response_format: Optional[ResponseFormat] = None
    # Log probabilities of the sampled tokens: None = off; N = with the N most likely alternatives.
    logprobs: Optional[int] = None

    @property
    def kind(self) -> Literal["chat", "completion"]:
        return "chat" if self.messages is not None else "completion"


@dataclass
class ToolCallPiece:
    """A piece of the tool call number `index` of one choice: the first piece of a call carries
    its `id` and `name`, later ones more of its `arguments` (JSON text, in pieces)."""

    index: int
    id: Optional[str] = None
    name: Optional[str] = None
    arguments: str = ""


@dataclass
class TokenLogprob:
    token: str
    logprob: Optional[float]  # None only for a prompt's first token (nothing comes before it)
    bytes: Optional[list[int]] = None
    # The most likely tokens at this position (empty unless alternatives were asked for).
    top: list["TokenLogprob"] = field(default_factory=list)


@dataclass
class Delta:
    """A piece of output. `text` is always complete UTF-8 (no split characters)."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCallPiece] = field(default_factory=list)
    # One entry per sampled token of this piece, when logprobs were asked for.
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: Optional[str] = None
    # Set on the final delta: what the model really saw and produced.
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    cached_tokens: Optional[int] = None


@dataclass
class EngineStats:
    engine: str
    model: str
    running: int = 0
    waiting: int = 0
    kv_cache_usage: Optional[float] = None  # 0..1
    # One entry per device: {"name", "used_bytes", "total_bytes"}; process memory on CPU.
    devices: list[dict[str, Any]] = field(default_factory=list)
    # Engine's own counters (e.g. tokens generated, requests aborted), exported as-is.
    counters: dict[str, float] = field(default_factory=dict)


ProgressCallback = Callable[[str, float], None]  # (message, fraction 0..1)


@dataclass
class ModelMetadata:
    """What the model file says about itself (Ollama's show and tags report it)."""

    format: str  # "gguf"
    size_bytes: int
    parameter_count: int
    quantization: str  # "Q4_1", "F16", ...
    # The file's own key-value metadata (`general.architecture`, `llama.context_length`, ...);
    # long arrays (the vocabulary) as None.
    values: dict[str, Any] = field(default_factory=dict)


class Engine(abc.ABC):
    name: str
    model_name: str
    # Where the model runs: "cpu" (memory is the process's) or "gpu" (memory is per device).
    device_kind: Literal["cpu", "gpu"] = "cpu"

    @property
    @abc.abstractmethod
    def capacity(self) -> int:
        """Sequences the engine runs at once: the default (and cap) of the admission limit."""

    def check_model(self) -> None:
        """Fail fast, before the server listens, when the model cannot be found.

        Raises ModelFileError (exit 1) or ConfigError (exit 2); the default finds nothing to check.
        """

    @abc.abstractmethod
    async def start(self, progress: Optional[ProgressCallback] = None) -> None: ...

    @abc.abstractmethod
    def generate(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        """Stream deltas; the last one carries finish_reason and token counts.

        Closing the iterator (or cancelling its consumer) aborts the request in the engine.
        """

    @abc.abstractmethod
    async def abort(self, request_id: str) -> None: ...

    @property
    @abc.abstractmethod
    def tokenizer(self) -> Tokenizer: ...

    @abc.abstractmethod
    async def stats(self) -> EngineStats: ...

    @property
    def healthy(self) -> bool:
        return True

    async def prompt_logprobs(self, prompt: str, alternatives: int) -> list[TokenLogprob]:
        """Each prompt token's log probability given the tokens before it (the first has none),
        with the `alternatives` most likely tokens at each position: /v1/completions' echo."""
        raise RequestError(f"echo: the log probabilities of the prompt are not supported by the {self.name} engine",
                           param="echo")

    async def model_metadata(self) -> Optional[ModelMetadata]:
        """The model file's metadata, where the engine reads its model from one file (None else)."""
        return None

    @property
    def calls_tools(self) -> bool:
        """Whether, given tools, the model may decide itself to call one (`tool_choice: auto`):
        what Ollama's API advertises as the "tools" capability. Known once the model is loaded."""
        return False

    # The engine itself ends the output where the window ends (finish "length") and refuses a
    # prompt over the window with PromptTooLongError: the serving core need not count the prompt
    # to clamp an output limit (llama.cpp, vLLM in-process). False: the core counts and clamps
    # (an OpenAI-compatible upstream may refuse such a limit, as vLLM's server does).
    stops_at_window: bool = False

    @abc.abstractmethod
    async def stop(self) -> None: ...
