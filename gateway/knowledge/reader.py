"""Reading and splitting documents in a process of its own, bounded in time and memory.

A document is untrusted input to a parser (pypdf) that can loop, recurse or allocate for a
long time on a crafted file; reading and splitting a 200 MB file takes minutes of CPU. Here
neither blocks the indexer's event loop (which keeps the embedding model's connection alive)
and neither can end the run: a file that takes longer than `knowledge.file_timeout_s` has
its reader killed, one that needs more than `knowledge.reader_memory_mib` fails inside the
reader, and either way the file is skipped with the reason while the next one is read by a
fresh reader. A PDF page slower than `knowledge.pdf_page_timeout_s` is left out, named.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from multiprocessing.connection import Connection
from typing import Any, Optional, Union

from gateway.knowledge.settings import KnowledgeSettings
from gateway.knowledge.store import INSTALL, KnowledgeUnavailable

MIB = 1 << 20
STARTUP_S = 300


@dataclass
class Read:
    digest: str
    chunks: list  # of (text, page or None, start offset)
    notes: list[str] = field(default_factory=list)  # pages left out, and why


@dataclass
class Unreadable:
    reason: str


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    file_timeout_s: float
    pdf_page_timeout_s: float
    memory_bytes: int
    chunk_size: int
    chunk_overlap: int

    @classmethod
    def of(cls, settings: KnowledgeSettings) -> "Limits":
        return cls(settings.max_file_mib * MIB, settings.file_timeout_s, settings.pdf_page_timeout_s,
                   settings.reader_memory_mib * MIB, settings.chunk_size, settings.chunk_overlap)


def open_regular(path: Path, max_bytes: int) -> Union[int, Unreadable]:
    """A descriptor of the file if it is still a regular file within the size limit. The
    checks are made on the open file: a file swapped for a link or a FIFO after the listing is
    not followed or waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        return Unreadable(f"cannot open it ({exc.strerror or exc})")
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return Unreadable("no longer a regular file")
    if info.st_size > max_bytes:
        os.close(fd)
        return Unreadable(f"{info.st_size / MIB:.0f} MiB, larger than knowledge.max_file_mib ({max_bytes // MIB} MiB)")
    return fd


def file_digest(path: Path, max_bytes: int) -> Union[str, Unreadable]:
    """sha256 of the file, read in blocks (run in a thread: hashlib releases the GIL)."""
    fd = open_regular(path, max_bytes)
    if isinstance(fd, Unreadable):
        return fd
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as f:
        while block := f.read(MIB):
            digest.update(block)
    return digest.hexdigest()


# --- in the reader process --------------------------------------------------------------


class _PageTimeout(BaseException):
    """Raised by the page alarm; a BaseException so that pypdf's own `except Exception` cannot swallow it."""


def _alarm(signum: int, frame: Any) -> None:
    raise _PageTimeout()


def _pdf_pages(data: bytes, page_timeout_s: float, notes: list[str]) -> list[tuple[Optional[int], str]]:
    import io

    try:
        from pypdf import PdfReader
    except ImportError:
        raise KnowledgeUnavailable(f"indexing PDF needs pypdf: {INSTALL}") from None

    reader = PdfReader(io.BytesIO(data))
    texts = []
    for number, page in enumerate(reader.pages, 1):
        signal.setitimer(signal.ITIMER_REAL, page_timeout_s)
        try:
            texts.append((number, page.extract_text() or ""))
        except _PageTimeout:
            notes.append(f"page {number} left out: its text took longer than knowledge.pdf_page_timeout_s "
                         f"({page_timeout_s:g} s)")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return texts


def _read(path: Path, limits: Limits) -> Union[Read, Unreadable]:
    from gateway.knowledge.chunking import split_texts

    fd = open_regular(path, limits.max_file_bytes)
    if isinstance(fd, Unreadable):
        return fd
    with os.fdopen(fd, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    suffix = path.suffix.lower()
    notes: list[str] = []
    if suffix == ".pdf":
        texts = _pdf_pages(data, limits.pdf_page_timeout_s, notes)
    else:
        if b"\0" in data[:8192]:
            return Unreadable("binary content (a NUL byte), not text")
        try:
            texts = [(None, data.decode("utf-8"))]
        except UnicodeDecodeError as exc:
            return Unreadable(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})")
    del data
    chunks = split_texts(suffix, texts, limits.chunk_size, limits.chunk_overlap)
    if not chunks and notes:
        return Unreadable(f"no text read: {len(notes)} of its pages took longer than knowledge.pdf_page_timeout_s "
                          f"({limits.pdf_page_timeout_s:g} s)")
    if not chunks:
        return Unreadable("no text in it" + (" (a scanned PDF needs OCR first)" if suffix == ".pdf" else ""))
    return Read(digest, [(c.text, c.page, c.start) for c in chunks], notes)


def _die_with_parent() -> None:
    """Linux: the kernel ends the reader when the indexer dies (even by SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main() -> None:
    """The reader process: `python -c '...main()' FD MEMORY_BYTES`."""
    _serve(Connection(int(sys.argv[1])), int(sys.argv[2]))


def _serve(conn: Any, memory_bytes: int) -> None:
    import resource

    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the indexer's to handle
    signal.signal(signal.SIGALRM, _alarm)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings about damaged files would flood the terminal
    try:  # imported before the first file, so that its time limit is the file's alone
        import pypdf  # noqa: F401

        from gateway.knowledge.chunking import _splitter

        _splitter(".txt", 100, 0)
    except Exception:
        pass  # a missing package is said at the first file that needs it
    conn.send("ready")
    while True:
        try:
            path, limits = conn.recv()
        except EOFError:
            return
        try:
            answer: Union[Read, Unreadable] = _read(path, limits)
        except KnowledgeUnavailable as exc:  # a missing package: the whole run's error, not the file's
            answer = exc
        except MemoryError:
            answer = Unreadable(f"needs more memory than knowledge.reader_memory_mib ({limits.memory_bytes // MIB} MiB)")
        except RecursionError:
            answer = Unreadable("damaged: its structure nests without end (a cyclic PDF page tree?)")
        except _PageTimeout:
            answer = Unreadable(f"a step took longer than knowledge.pdf_page_timeout_s ({limits.pdf_page_timeout_s:g} s)")
        except Exception as exc:  # a parser's error on a damaged file: the reason is its message
            answer = Unreadable(f"damaged or unreadable ({type(exc).__name__}: {exc})"[:300])
        try:
            conn.send(answer)
        except MemoryError:
            conn.send(Unreadable(f"too many chunks to hand over within knowledge.reader_memory_mib "
                                 f"({limits.memory_bytes // MIB} MiB)"))


# --- in the indexer ---------------------------------------------------------------------


class DocumentReader:
    """One reader process at a time, started on first use and again after one is stopped."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self._process: Any = None
        self._conn: Any = None

    def _start(self) -> None:
        # A fresh interpreter (never a fork of a process running llama.cpp's threads), started
        # as a plain command rather than by multiprocessing, which would import the caller's
        # __main__ again in it; pickled messages over a socket pair.
        ours, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        self._process = subprocess.Popen(
            [sys.executable, "-c", "from gateway.knowledge.reader import main; main()",
             str(theirs.fileno()), str(self.limits.memory_bytes)],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=env,
        )
        theirs.close()
        self._conn = Connection(ours.detach())

    def _wait_ready(self) -> None:
        # Starting Python and importing the splitters takes seconds on a busy machine; not part of any file's time.
        try:
            ready = self._conn.poll(STARTUP_S) and self._conn.recv() == "ready"
        except (EOFError, OSError):  # it died at start: a broken install, said by its own stderr
            ready = False
        if not ready:
            self._discard(self._process, self._conn)
            raise RuntimeError(f"the document reader process did not start within {STARTUP_S} s")

    def _exchange(self, path: Path) -> Union[Read, Unreadable]:
        """In a worker thread: send the path, wait for the answer within the time limit."""
        process, conn = self._process, self._conn
        try:
            conn.send((path, self.limits))
            if not conn.poll(self.limits.file_timeout_s):
                self._discard(process, conn)
                return Unreadable(f"reading it took longer than knowledge.file_timeout_s ({self.limits.file_timeout_s:g} s)")
            return conn.recv()
        except (EOFError, OSError):
            try:
                code = process.wait(5)
            except subprocess.TimeoutExpired:
                code = None
            self._discard(process, conn)
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
            return Unreadable(f"the reader process ended while reading it ({how}; out of memory?)")

    def _discard(self, process: Any, conn: Any) -> None:
        process.kill()
        process.wait()
        if not conn.closed:
            conn.close()
        if self._process is process:
            self._process = self._conn = None

    async def _in_thread(self, work: Any, *args: Any) -> Any:
        """work(*args) in a worker thread. Cancelled (SIGTERM, Ctrl-C), it kills the reader and
        waits for the thread, which then returns at once (its pipe has ended), so that the
        thread, not the caller, closes the pipe."""
        running = asyncio.ensure_future(asyncio.to_thread(work, *args))
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            if self._process is not None:
                self._process.kill()
            with contextlib.suppress(Exception):
                await running
            raise

    async def read(self, path: Path) -> Union[Read, Unreadable]:
        if self._process is None:
            # Started from this (the main) thread: the kernel's parent-death signal follows
            # the thread that started the process, and a worker thread may end first.
            self._start()
            await self._in_thread(self._wait_ready)
        answer = await self._in_thread(self._exchange, path)
        if isinstance(answer, KnowledgeUnavailable):
            raise answer
        return answer

    def stop(self) -> None:
        if self._process is not None:
            self._discard(self._process, self._conn)
