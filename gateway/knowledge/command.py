"""`oss-sidecar index`: index files into a knowledge base, drop files from it, or drop it.

The embedding model is the gateway's own (same `embeddings` settings), loaded in this
process: indexing needs no running server, and a running one sees the result at its next
retrieval.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.knowledge.indexer import index_paths, remove_paths
from gateway.knowledge.store import KnowledgeStore, KnowledgeUnavailable, data_dir

if TYPE_CHECKING:
    from gateway.settings import Settings


def _say(text: str) -> None:
    print(f"oss-sidecar index: {text}", file=sys.stderr, flush=True)


async def _index(settings: "Settings", store: KnowledgeStore, paths: list[Path], collection: str) -> None:
    from tqdm import tqdm

    from gateway.embeddings import create_embedding_model
    from gateway.serving.embeddings import EmbeddingRequest, Embeddings
    from gateway.telemetry import Metrics

    model = create_embedding_model(settings.embeddings)
    model.check_model()
    await model.start(lambda message, fraction: _say(message))
    embeddings = Embeddings(settings, model, Metrics())
    embeddings.status = "ready"

    async def embed(texts: list[str]) -> list[list[float]]:
        # A chunk past the model's window is embedded by its first tokens (and stored whole).
        request = EmbeddingRequest(inputs=texts, truncate_prompt_tokens=model.max_input_tokens)
        return (await embeddings.embed(request)).vectors

    bar = tqdm(total=0, unit="chunk", desc=f"indexing into {collection}", file=sys.stderr)

    def on_total(total: int) -> None:
        bar.total = total
        bar.refresh()

    try:
        report = await index_paths(
            paths, collection, store, embed,
            chunk_size=settings.knowledge.chunk_size, chunk_overlap=settings.knowledge.chunk_overlap,
            embedding_model=model.model_name, progress=bar.update, on_total=on_total,
        )
    finally:
        bar.close()
        await model.stop()
    _say(
        f"{collection}: {report.files_added} files added, {report.files_updated} updated, "
        f"{report.files_unchanged} unchanged, {report.files_removed} removed; {report.chunks_written} chunks "
        f"embedded in {report.seconds:.1f} s (store: {store.path})"
    )


def run_index(settings: "Settings", paths: list[str], collection: str, delete: bool) -> int:
    store = KnowledgeStore(data_dir(settings.knowledge.data_dir))
    resolved = [Path(p).expanduser() for p in paths]
    try:
        if delete and not resolved:
            _say(f"deleted the knowledge base {collection}" if store.delete(collection)
                 else f"no knowledge base {collection}")
            return 0
        if delete:
            _say(f"{collection}: removed {remove_paths(resolved, collection, store)} files")
            return 0
        missing = [str(p) for p in resolved if not p.exists()]
        if missing:
            _say(f"no such file or folder: {', '.join(missing)}")
            return 2
        from gateway.embeddings import create_embedding_model

        # Creates the collection now: a bad name fails before the model loads.
        store.collection(collection, create=True,
                         embedding_model=create_embedding_model(settings.embeddings).model_name)
        asyncio.run(_index(settings, store, resolved, collection))
        return 0
    except KnowledgeUnavailable as exc:
        _say(str(exc))
        return 2
    except Exception as exc:
        if type(exc).__name__ != "InvalidArgumentError":  # Chroma's answer to a bad collection name
            raise
        _say(f"--collection: {str(exc).removeprefix('Validation error: name: ')}")
        return 2
