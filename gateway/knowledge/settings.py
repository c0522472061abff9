"""The `knowledge` settings section: where knowledge bases live and how documents are cut."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from gateway.settings_section import Section


class KnowledgeSettings(Section):
    # Where Chroma keeps the knowledge bases; empty: $XDG_DATA_HOME/oss-sidecar/knowledge.
    data_dir: Optional[str] = None
    # Characters per chunk: about 200 tokens of prose, inside the default embedding model's 256-token
    # window; a denser chunk (code, tables) past it is embedded by its first tokens and stored whole.
    chunk_size: int = Field(800, ge=100)
    # Characters shared by neighbouring chunks, so an answer cut in two is still found.
    chunk_overlap: int = Field(120, ge=0)
    # Largest `retrieval.top_k` a chat request may ask for.
    max_top_k: int = Field(20, ge=1)
    # Files larger than this (MiB) are skipped by `oss-sidecar index`, named with the reason.
    max_file_mib: int = Field(256, ge=1)
    # Seconds to read and split one file; a file that takes longer is skipped (its reader is stopped).
    file_timeout_s: float = Field(300, gt=0)
    # Seconds to take the text out of one PDF page; a slower page is left out, named.
    pdf_page_timeout_s: float = Field(10, gt=0)
    # Memory (MiB) the document reader process may use; a file that needs more is skipped.
    reader_memory_mib: int = Field(4096, ge=256)
