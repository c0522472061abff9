"""Knowledge bases as Chroma collections, persisted under knowledge.data_dir.

The vectors come from the gateway's embedding model, never from Chroma's own default
embedding function (it would download a model). Chroma caches a collection's vector index
per process, so another process's writes (`oss-sidecar index` while the gateway runs) are
seen only by a fresh client: the store reopens when Chroma's database file has changed.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Optional

INSTALL = "pip install 'oss-sidecar[rag]'"


class KnowledgeUnavailable(Exception):
    """chromadb is not installed; the message says what to install."""


def data_dir(configured: Optional[str]) -> Path:
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "oss-sidecar" / "knowledge"


class KnowledgeStore:
    def __init__(self, path: Path):
        self.path = path
        self._client: Any = None
        self._stamp: Optional[float] = None
        self._lock = threading.Lock()

    def _database_stamp(self) -> Optional[float]:
        try:
            return (self.path / "chroma.sqlite3").stat().st_mtime
        except OSError:
            return None

    def client(self) -> Any:
        try:
            import chromadb
            from chromadb.api.client import SharedSystemClient
            from chromadb.config import Settings as ChromaSettings
        except ImportError:
            raise KnowledgeUnavailable(f"the knowledge base needs chromadb: {INSTALL}") from None
        with self._lock:
            stamp = self._database_stamp()
            if self._client is None or stamp != self._stamp:
                SharedSystemClient.clear_system_cache()
                self.path.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(
                    path=str(self.path), settings=ChromaSettings(anonymized_telemetry=False)
                )
                self._stamp = self._database_stamp()
            return self._client

    def names(self) -> list[str]:
        return sorted(c.name for c in self.client().list_collections())

    def listing(self) -> list[dict[str, Any]]:
        """Each knowledge base's name, chunk count and embedding model, by name. Read-only: where
        nothing was ever indexed it opens no database (and creates no folder)."""
        if self._database_stamp() is None:
            return []
        found = [
            {"name": c.name, "chunks": c.count(), "embedding_model": (c.metadata or {}).get("embedding_model") or None}
            for c in self.client().list_collections()
        ]
        return sorted(found, key=lambda c: c["name"])

    def collection(self, name: str, *, create: bool = False, embedding_model: str = "") -> Any:
        """The collection, or None when it does not exist and `create` is False."""
        client = self.client()
        if not create:
            if name not in {c.name for c in client.list_collections()}:
                return None
            return client.get_collection(name, embedding_function=None)
        return client.get_or_create_collection(
            name, embedding_function=None, metadata={"hnsw:space": "cosine", "embedding_model": embedding_model}
        )

    def delete(self, name: str) -> bool:
        client = self.client()
        if name not in {c.name for c in client.list_collections()}:
            return False
        client.delete_collection(name)
        return True

    def touched(self) -> None:
        """Our own write: remember the new file stamp so the next call keeps this client."""
        with self._lock:
            self._stamp = self._database_stamp()
