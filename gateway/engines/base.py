"""The one engine protocol. HTTP handlers talk to this and never know which engine runs.

An engine loads a model (`start`), streams `Delta`s for a `GenerationRequest` (`generate`),
aborts a request by id (`abort`), exposes the model's `tokenizer`, reports `stats()`, and
releases everything on `stop()`.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Literal, Optional


class EngineError(Exception):
    """The engine failed on a request (not the client's fault)."""


class EngineDeadError(EngineError):
    """The engine can no longer serve; /health turns 503."""


class PromptTooLongError(ValueError):
    """The prompt does not fit the model's context (a 400 for the client)."""

    def __init__(self, prompt_tokens: int, limit: int, param: str = "messages"):
        self.prompt_tokens, self.limit, self.param = prompt_tokens, limit, param
        super().__init__(
            f"This model's maximum context length is {limit} tokens. However, your request has "
            f"{prompt_tokens} input tokens. Please reduce the length of the {param}."
        )


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


@dataclass
class GenerationRequest:
    """One generation. Exactly one of `messages` (chat) or `prompt` (raw text, FIM already rendered)."""

    request_id: str
    sampling: SamplingParams
    messages: Optional[list[dict[str, Any]]] = None
    prompt: Optional[str] = None
    # Engine-specific passthrough (e.g. reasoning_effort for harmony models).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> Literal["chat", "completion"]:
        return "chat" if self.messages is not None else "completion"


@dataclass
class Delta:
    """A piece of output. `text` is always complete UTF-8 (no split characters)."""

    text: str = ""
    reasoning: str = ""
    finish_reason: Optional[str] = None
    # Set on the final delta: what the model really saw and produced.
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    cached_tokens: Optional[int] = None


class Tokenizer(abc.ABC):
    """The model's own tokenizer and chat template."""

    context_length: int

    @abc.abstractmethod
    async def encode(self, text: str, *, special: bool = True) -> list[int]: ...

    async def count(self, text: str) -> int:
        return len(await self.encode(text))

    @abc.abstractmethod
    async def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        """The prompt text the model sees for `messages`, with the generation prompt added."""

    @abc.abstractmethod
    async def special_tokens(self) -> set[str]:
        """Control/special token strings of the vocabulary (FIM family detection)."""


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


class Engine(abc.ABC):
    name: str
    model_name: str

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

    @abc.abstractmethod
    async def stop(self) -> None: ...
