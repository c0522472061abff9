"""The embedding model interface. Serving talks to this and never knows which runtime runs.

Inputs arrive as token ids, already cut to the window (serving tokenizes, counts and
truncates first); `embed` returns one L2-normalised vector per input.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Optional

from gateway.engines.base import ModelMetadata, ProgressCallback


class EmbeddingInputError(Exception):
    """The runtime refused an input (the client's fault): a 400 naming it."""


@dataclass
class EmbeddingStats:
    runtime: str
    model: str
    # {"name", "used_bytes", "total_bytes"}: the model file's size on CPU.
    devices: list[dict[str, Any]] = field(default_factory=list)


class EmbeddingModel(abc.ABC):
    runtime: str
    model_name: str
    dimensions: int
    # The longest input in tokens, special tokens included.
    max_input_tokens: int
    # Special tokens the tokenizer puts around every text (BERT: [CLS] ... [SEP]).
    prefix_tokens: list[int]
    suffix_tokens: list[int]
    vocab_size: int

    def check_model(self) -> None:
        """Fail fast, before the server listens, when the model cannot be found."""

    @abc.abstractmethod
    async def start(self, progress: Optional[ProgressCallback] = None) -> None: ...

    @abc.abstractmethod
    async def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, the special tokens included."""

    @abc.abstractmethod
    async def embed(self, inputs: list[list[int]]) -> list[list[float]]:
        """One normalised vector per input; runs `batch_size` inputs at a time."""

    async def model_metadata(self) -> Optional[ModelMetadata]:
        """The model file's metadata, where the runtime reads the model from one file (None else)."""
        return None

    @abc.abstractmethod
    def stats(self) -> EmbeddingStats: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...
