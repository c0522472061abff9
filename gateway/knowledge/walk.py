"""Which files `oss-sidecar index` reads: regular files inside the folders it was given.

A symbolic link is followed only to a file inside one of those folders; a link that leaves
them (`passwd.txt -> /etc/passwd` in a cloned repository) is skipped, so an indexed folder
exposes nothing but its own files. FIFOs, sockets and devices are skipped (reading a FIFO
would wait forever). Hidden files and folders (a name starting with '.') are left out, as
before. Every other file that is not read is named with the reason.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from gateway.knowledge.chunking import indexable


def display(path: "Path | str") -> str:
    """The path as text that any store and terminal takes: bytes that are not UTF-8 (a name
    written on another system) become backslash escapes, so `caf\\xe9.txt` is stored, shown
    and found again the same way on every run."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class Found:
    path: Path  # what to open: the file itself, or the target of a link inside the tree
    source: str  # its name in the knowledge base and in messages (display text)


@dataclass(frozen=True)
class Skipped:
    source: str
    reason: str


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def find_files(paths: Iterable[Path]) -> tuple[list[Found], list[Skipped]]:
    """The files to read under the paths (each once, sorted by source) and those left out."""
    roots = [Path(os.path.realpath(p)) for p in paths]
    found: dict[Path, Found] = {}
    skipped: list[Skipped] = []

    def consider(entry: Path, explicit: bool) -> None:
        source = display(entry)
        try:
            link = entry.is_symlink()
            info = entry.stat()  # follows a link
        except FileNotFoundError:
            skipped.append(Skipped(source, "a broken symbolic link" if link else "vanished while listing"))
            return
        except OSError as exc:
            skipped.append(Skipped(source, f"cannot read it ({exc.strerror or exc})"))
            return
        target = Path(os.path.realpath(entry)) if link else entry
        if link and not explicit and not _inside(target, roots):
            skipped.append(Skipped(source, f"a symbolic link to {display(target)}, outside the folder being indexed"))
            return
        if not stat.S_ISREG(info.st_mode):
            skipped.append(Skipped(source, f"{_kind(info.st_mode)}, not a file"))
            return
        if not indexable(entry):
            suffix = entry.suffix or "no suffix"
            skipped.append(Skipped(source, f"not a kind of file the indexer reads ({suffix})"))
            return
        key = Path(os.path.realpath(target))
        if key not in found:  # a file and a link to it inside the tree: read once, under the file's name
            found[key] = Found(target, display(target) if link else source)

    for given, root in zip(paths, roots):
        if not os.path.isdir(root):
            # A file named on the command line is read even through a link: the user chose it.
            consider(Path(given).absolute() if not Path(given).is_symlink() else Path(root), explicit=True)
            continue
        for folder, dirs, files in os.walk(root, onerror=lambda exc: skipped.append(
                Skipped(display(exc.filename or root), f"cannot list it ({exc.strerror or exc})"))):
            base = Path(folder)
            keep = []
            for name in sorted(dirs):
                if name.startswith("."):
                    continue
                sub = base / name
                if sub.is_symlink():
                    # os.walk does not descend into links; one that stays inside is walked where it points.
                    target = Path(os.path.realpath(sub))
                    where = "inside the tree, read where it points" if _inside(target, roots) else "outside the folder being indexed"
                    skipped.append(Skipped(display(sub), f"a symbolic link to the folder {display(target)}, {where}"))
                    continue
                keep.append(name)
            dirs[:] = keep
            for name in sorted(files):
                if not name.startswith("."):
                    consider(base / name, explicit=False)
    return sorted(found.values(), key=lambda f: f.source), skipped
