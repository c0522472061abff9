"""The `knowledge` settings section: where knowledge bases live and how documents are cut."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from gateway.settings_section import Section


class KnowledgeSettings(Section):
    # Where Chroma keeps the knowledge bases; empty: $XDG_DATA_HOME/oss-sidecar/knowledge.
    data_dir: Optional[str] = None
    # Characters per chunk; about 200 tokens, inside the default embedding model's 256-token window.
    chunk_size: int = Field(800, ge=100)
    # Characters shared by neighbouring chunks, so an answer cut in two is still found.
    chunk_overlap: int = Field(120, ge=0)
    # Largest `retrieval.top_k` a chat request may ask for.
    max_top_k: int = Field(20, ge=1)
