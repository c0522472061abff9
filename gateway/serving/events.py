"""Wire-neutral output: the events of a stream, the finished choices, the usage."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from gateway.engines.base import TokenLogprob, ToolCallPiece


@dataclass
class ChoiceEvent:
    """A piece of one choice's output; the last piece of a choice carries its finish reason."""

    index: int
    text: str = ""
    reasoning: str = ""
    finish_reason: Optional[str] = None
    tool_calls: list[ToolCallPiece] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text


@dataclass
class ChoiceResult:
    index: int
    text: str
    reasoning: str
    finish_reason: Optional[str]
    tool_calls: list[ToolCall] = field(default_factory=list)
    # None when logprobs were not asked for.
    logprobs: Optional[list[TokenLogprob]] = None


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
