"""Wire-neutral output: the events of a stream, the finished choices, the usage."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class ChoiceEvent:
    """A piece of one choice's output; the last piece of a choice carries its finish reason."""

    index: int
    text: str = ""
    reasoning: str = ""
    finish_reason: Optional[str] = None


@dataclass
class ChoiceResult:
    index: int
    text: str
    reasoning: str
    finish_reason: Optional[str]


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
