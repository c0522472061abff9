"""The embedding model: a component beside the chat engine, with its own runtime and settings.

base.py is the interface serving talks to (tokenize, embed), settings.py its `embeddings`
section, default_model.py the packaged all-MiniLM-L6-v2, gguf_export.py its conversion for
llama.cpp, llamacpp.py the runtime.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.embeddings.base import EmbeddingModel
    from gateway.embeddings.settings import EmbeddingsSettings


def create_embedding_model(cfg: "EmbeddingsSettings") -> "EmbeddingModel":
    """The runtime `embeddings.engine` names (only llamacpp today)."""
    from gateway.embeddings.llamacpp import LlamaCppEmbeddings

    return LlamaCppEmbeddings(cfg)
