"""`oss-sidecar index`: files into a knowledge base, incrementally.

Each chunk is stored with its file's path and sha256; a file whose sha256 is unchanged is
skipped, a changed one has its chunks replaced, and a file that vanished from an indexed
folder has its chunks removed.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Optional

from gateway.knowledge.chunking import indexable, split_file
from gateway.knowledge.store import KnowledgeStore

EmbedTexts = Callable[[list[str]], Awaitable[list[list[float]]]]
# Chunks embedded and written together: bounds memory and keeps the progress bar moving.
WRITE_BATCH = 64


@dataclass
class IndexReport:
    files_added: int = 0
    files_updated: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    chunks_written: int = 0
    seconds: float = 0.0


def find_files(paths: Iterable[Path]) -> list[Path]:
    """Indexable files under the paths (hidden files and folders left out), sorted."""
    found: set[Path] = set()
    for path in paths:
        path = path.resolve()
        if path.is_file():
            found.add(path)
        elif path.is_dir():
            for f in path.rglob("*"):
                rel = f.relative_to(path).parts
                if f.is_file() and indexable(f) and not any(part.startswith(".") for part in rel):
                    found.add(f)
    return sorted(found)


def _chunk_id(source: str, index: int) -> str:
    return f"{hashlib.sha1(source.encode()).hexdigest()[:16]}:{index}"


def _indexed_files(collection: Any) -> dict[str, str]:
    """source path → file sha256 of what the collection holds now."""
    metadatas = collection.get(include=["metadatas"])["metadatas"] or []
    return {m["source"]: m["file_sha256"] for m in metadatas if m and "source" in m}


def _under(source: str, roots: list[Path]) -> bool:
    path = Path(source)
    return any(path == root or root in path.parents for root in roots)


async def index_paths(
    paths: list[Path],
    collection_name: str,
    store: KnowledgeStore,
    embed: EmbedTexts,
    *,
    chunk_size: int,
    chunk_overlap: int,
    embedding_model: str,
    progress: Optional[Callable[[int], None]] = None,  # called with chunks written
    on_total: Optional[Callable[[int], None]] = None,  # called once with the chunks to write
) -> IndexReport:
    t0 = time.perf_counter()
    report = IndexReport()
    roots = [p.resolve() for p in paths]
    collection = store.collection(collection_name, create=True, embedding_model=embedding_model)
    indexed = _indexed_files(collection)
    present = find_files(roots)

    work: list[tuple[str, str, list]] = []  # (source, sha256, chunks)
    for path in present:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        source = str(path)
        if indexed.get(source) == digest:
            report.files_unchanged += 1
            continue
        if source in indexed:
            report.files_updated += 1
        else:
            report.files_added += 1
        work.append((source, digest, split_file(path, data, chunk_size, chunk_overlap)))

    for source in indexed:
        if _under(source, roots) and source not in {str(p) for p in present}:
            collection.delete(where={"source": source})
            report.files_removed += 1
    if on_total:
        on_total(sum(len(chunks) for _, _, chunks in work))

    for source, digest, chunks in work:
        collection.delete(where={"source": source})
        for start in range(0, len(chunks), WRITE_BATCH):
            batch = chunks[start : start + WRITE_BATCH]
            vectors = await embed([c.text for c in batch])
            metadatas = []
            for i, chunk in enumerate(batch, start):
                meta = {"source": source, "file_sha256": digest, "chunk": i, "start": chunk.start}
                if chunk.page is not None:
                    meta["page"] = chunk.page
                metadatas.append(meta)
            collection.add(
                ids=[_chunk_id(source, i) for i in range(start, start + len(batch))],
                embeddings=vectors,
                documents=[c.text for c in batch],
                metadatas=metadatas,
            )
            report.chunks_written += len(batch)
            if progress:
                progress(len(batch))
    store.touched()
    report.seconds = time.perf_counter() - t0
    return report


def remove_paths(paths: list[Path], collection_name: str, store: KnowledgeStore) -> int:
    """Drop the chunks of files under the paths; the number of files dropped."""
    collection = store.collection(collection_name)
    if collection is None:
        return 0
    roots = [p.resolve() for p in paths]
    gone = [s for s in _indexed_files(collection) if _under(s, roots)]
    for source in gone:
        collection.delete(where={"source": source})
    store.touched()
    return len(gone)
