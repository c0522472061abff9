"""`oss-sidecar index`: files into a knowledge base, incrementally.

Each chunk is stored with its file's path and sha256; a file whose sha256 is unchanged is
skipped, a changed one has its chunks replaced, and a file that vanished from an indexed
folder has its chunks removed. Files are found by walk.py (inside the given folders only) and
read one at a time by reader.py's process; a file that cannot be read is skipped with the
reason and the run goes on.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

from gateway.knowledge.reader import DocumentReader, Limits, Unreadable, file_digest
from gateway.knowledge.settings import KnowledgeSettings
from gateway.knowledge.store import KnowledgeStore
from gateway.knowledge.walk import Skipped, display, find_files

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
    skipped: list[Skipped] = field(default_factory=list)  # files not indexed, with the reason
    notes: list[Skipped] = field(default_factory=list)  # parts of indexed files left out (a slow PDF page)


def _chunk_id(source: str, index: int) -> str:
    return f"{hashlib.sha1(source.encode()).hexdigest()[:16]}:{index}"


def _indexed_files(collection: Any) -> dict[str, str]:
    """source path → file sha256 of what the collection holds now; "" for a file whose chunks
    are not all there (a run killed while writing it), so that it is read again."""
    metadatas = collection.get(include=["metadatas"])["metadatas"] or []
    digests: dict[str, str] = {}
    counts: dict[str, int] = {}
    expected: dict[str, int] = {}
    for m in metadatas:
        if m and "source" in m:
            digests[m["source"]] = m["file_sha256"]
            counts[m["source"]] = counts.get(m["source"], 0) + 1
            if "chunks_in_file" in m:
                expected[m["source"]] = m["chunks_in_file"]
    return {s: (d if expected.get(s, counts[s]) == counts[s] else "") for s, d in digests.items()}


def _under(source: str, roots: list[str]) -> bool:
    return any(source == root or source.startswith(root.rstrip("/") + "/") for root in roots)


async def index_paths(
    paths: list[Path],
    collection_name: str,
    store: KnowledgeStore,
    embed: EmbedTexts,
    *,
    settings: KnowledgeSettings,
    embedding_model: str,
    on_skip: Optional[Callable[[Skipped], None]] = None,  # called as each file is skipped
    on_note: Optional[Callable[[Skipped], None]] = None,  # called for each part of a file left out
    progress: Optional[Callable[[int], None]] = None,  # called with files done
    on_total: Optional[Callable[[int], None]] = None,  # called once with the files to look at
) -> IndexReport:
    t0 = time.perf_counter()
    report = IndexReport()

    def skip(item: Skipped) -> None:
        report.skipped.append(item)
        if on_skip:
            on_skip(item)

    found, left_out = await asyncio.to_thread(find_files, paths)
    for item in left_out:
        skip(item)
    roots = [display(p.resolve()) for p in paths]
    collection = store.collection(collection_name, create=True, embedding_model=embedding_model)
    indexed = _indexed_files(collection)
    present = {f.source for f in found}
    for source in indexed:
        if _under(source, roots) and source not in present:
            collection.delete(where={"source": source})
            report.files_removed += 1
    if on_total:
        on_total(len(found))

    limits = Limits.of(settings)
    reader = DocumentReader(limits)
    try:
        for item in found:
            source = item.source
            digest = await asyncio.to_thread(file_digest, item.path, limits.max_file_bytes)
            if indexed.get(source) == digest:
                report.files_unchanged += 1
            else:
                read = digest if isinstance(digest, Unreadable) else await reader.read(item.path)
                if source in indexed:  # changed, or no longer readable: its old chunks are stale
                    collection.delete(where={"source": source})
                if isinstance(read, Unreadable):
                    skip(Skipped(source, read.reason))
                else:
                    for note in read.notes:
                        report.notes.append(Skipped(source, note))
                        if on_note:
                            on_note(report.notes[-1])
                    try:
                        await _write(collection, embed, source, read.digest, read.chunks, report)
                    except BaseException:  # interrupted: no half-written file
                        collection.delete(where={"source": source})
                        raise
                    if source in indexed:
                        report.files_updated += 1
                    else:
                        report.files_added += 1
            if progress:
                progress(1)
    finally:
        reader.stop()
        store.touched()
    report.seconds = time.perf_counter() - t0
    return report


async def _write(collection: Any, embed: EmbedTexts, source: str, digest: str, chunks: list, report: IndexReport) -> None:
    loop = asyncio.get_running_loop()
    for start in range(0, len(chunks), WRITE_BATCH):
        batch = chunks[start : start + WRITE_BATCH]
        texts = [text for text, _, _ in batch]
        vectors = await embed(texts)
        metadatas = []
        for i, (_, page, offset) in enumerate(batch, start):
            meta = {"source": source, "file_sha256": digest, "chunk": i, "start": offset,
                    "chunks_in_file": len(chunks)}
            if page is not None:
                meta["page"] = page
            metadatas.append(meta)
        ids = [_chunk_id(source, i) for i in range(start, start + len(batch))]
        # Chroma's write is synchronous (SQLite and the vector index): off the event loop.
        await loop.run_in_executor(
            None, lambda: collection.add(ids=ids, embeddings=vectors, documents=texts, metadatas=metadatas)
        )
        report.chunks_written += len(batch)


def remove_paths(paths: list[Path], collection_name: str, store: KnowledgeStore) -> int:
    """Drop the chunks of files under the paths; the number of files dropped."""
    collection = store.collection(collection_name)
    if collection is None:
        return 0
    roots = [display(p.resolve()) for p in paths]
    gone = [s for s in _indexed_files(collection) if _under(s, roots)]
    for source in gone:
        collection.delete(where={"source": source})
    store.touched()
    return len(gone)
