"""`oss-sidecar index`: index files into a knowledge base, drop files from it, or drop it.

The embedding model is the gateway's own (same `embeddings` settings), loaded in this
process: indexing needs no running server, and a running one sees the result at its next
retrieval. Every file it does not index is named on stderr with the reason; a run that would
leave an empty knowledge base creates none and exits 2; SIGTERM or Ctrl-C stops it cleanly
(exit 143 or 130: what was finished stays), a second one at once.
"""
from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from gateway.knowledge.indexer import IndexReport, index_paths, remove_paths
from gateway.knowledge.store import KnowledgeStore, KnowledgeUnavailable, data_dir
from gateway.knowledge.walk import Skipped, display, find_files

if TYPE_CHECKING:
    from gateway.settings import Settings

# Exit status of a run ended by SIGINT / SIGTERM (the shell's 128 + signal number).
INTERRUPTED = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _say(text: str) -> None:
    print(f"oss-sidecar index: {text}", file=sys.stderr, flush=True)


def _nothing_to_index(paths: list[Path], collection: str, why: str) -> int:
    _say(f"{', '.join(display(p) for p in paths)}: nothing to index, so no knowledge base {collection} "
         f"was created: {why}")
    return 2


async def _index(settings: "Settings", store: KnowledgeStore, paths: list[Path], collection: str,
                 signals: list[int]) -> Optional[IndexReport]:
    """The run's report, or None when a signal ended it (SIGINT / SIGTERM, appended to
    `signals`: the model stops and its private socket folder goes; a second signal exits at once)."""
    from tqdm import tqdm

    from gateway.embeddings import create_embedding_model
    from gateway.engines.llamacpp.listener import exit_at_once
    from gateway.serving.embeddings import EmbeddingRequest, Embeddings
    from gateway.telemetry import Metrics

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def on_signal(signum: int) -> None:
        signals.append(signum)
        for again in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(again, exit_at_once, INTERRUPTED[again])
        task.cancel()

    for sig in INTERRUPTED:
        loop.add_signal_handler(sig, on_signal, sig)

    model = create_embedding_model(settings.embeddings)
    model.check_model()
    embeddings = Embeddings(settings, model, Metrics())

    async def embed(texts: list[str]) -> list[list[float]]:
        # A chunk past the model's window is embedded by its first tokens (and stored whole).
        # Those lie in its first window × 256 characters (a token is a word piece, at most a
        # few dozen characters): a huge chunk (a large knowledge.chunk_size) is cut there
        # rather than tokenized whole, megabytes of tokens to be thrown away.
        head = model.max_input_tokens * 256
        request = EmbeddingRequest(inputs=[t[:head] for t in texts], truncate_prompt_tokens=model.max_input_tokens)
        return (await embeddings.embed(request)).vectors

    bar: Optional[tqdm] = None

    def on_total(total: int) -> None:
        nonlocal bar
        bar = tqdm(total=total, unit="file", desc=f"indexing into {collection}", file=sys.stderr)

    def on_skip(item: Skipped) -> None:
        # Above the bar, once it is drawn.
        tqdm.write(f"oss-sidecar index: skipped {item.source}: {item.reason}", file=sys.stderr)

    def on_note(item: Skipped) -> None:
        tqdm.write(f"oss-sidecar index: {item.source}: {item.reason}", file=sys.stderr)

    try:
        await model.start(lambda message, fraction: _say(message))
        embeddings.status = "ready"
        return await index_paths(
            paths, collection, store, embed, settings=settings.knowledge, embedding_model=model.model_name,
            on_skip=on_skip, on_note=on_note, progress=lambda n: bar.update(n) if bar else None, on_total=on_total,
        )
    except asyncio.CancelledError:
        return None
    finally:
        if bar is not None:
            bar.close()
        await model.stop()


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
        missing = [display(p) for p in resolved if not p.exists()]
        if missing:
            _say(f"no such file or folder: {', '.join(missing)}")
            return 2
        existed = collection in {c["name"] for c in store.listing()}  # read-only: creates no database
        if not existed:
            # An empty knowledge base would show in every selector and answer nothing: refuse it.
            found, left_out = find_files(resolved)
            if not found:
                for item in left_out:
                    _say(f"skipped {item.source}: {item.reason}")
                return _nothing_to_index(
                    resolved, collection,
                    f"none of its {len(left_out)} entries is a file the indexer reads (each named above)"
                    if left_out else "no files in it (hidden ones, whose names start with '.', are left out)",
                )
        from gateway.embeddings import create_embedding_model

        # Creates the collection now: a bad name fails before the model loads.
        store.collection(collection, create=True,
                         embedding_model=create_embedding_model(settings.embeddings).model_name)
        signals: list[int] = []
        report = asyncio.run(_index(settings, store, resolved, collection, signals))
        empty = store.collection(collection).count() == 0
        if not existed and empty:
            store.delete(collection)  # nothing went in: leave no empty knowledge base behind
        if report is None:
            kept = ("no knowledge base was created" if not existed and empty
                    else f"the knowledge base {collection} keeps the files finished; run again to go on")
            _say(f"interrupted; {kept}")
            return INTERRUPTED[signals[0]] if signals else 1
        if not existed and report.chunks_written == 0:
            return _nothing_to_index(resolved, collection, f"every file was skipped ({len(report.skipped)}, each named above)")
        skipped = f"; {len(report.skipped)} skipped (named above)" if report.skipped else ""
        _say(
            f"{collection}: {report.files_added} files added, {report.files_updated} updated, "
            f"{report.files_unchanged} unchanged, {report.files_removed} removed; {report.chunks_written} chunks "
            f"embedded in {report.seconds:.1f} s (store: {store.path}){skipped}"
        )
        return 0
    except KnowledgeUnavailable as exc:
        _say(str(exc))
        return 2
    except Exception as exc:
        if type(exc).__name__ != "InvalidArgumentError":  # Chroma's answer to a bad collection name
            raise
        _say(f"--collection: {str(exc).removeprefix('Validation error: name: ')}")
        return 2
