"""Where answers shown as documents (``window/showDocument``) are written: a private folder.

One folder per server process, made by ``tempfile.mkdtemp`` — mode 0700, an unpredictable name,
created by ``mkdir`` itself, so it never follows a link another local user planted — in
``$XDG_RUNTIME_DIR`` (a per-user directory the session manager owns) when that is set and
private, else in the system temp directory. Each answer is a new file made with
``tempfile.mkstemp`` (``O_CREAT | O_EXCL``, mode 0600, unpredictable name): two editors never
overwrite each other's answers. The folder is removed when the server exits.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path


def _base() -> str | None:
    """``$XDG_RUNTIME_DIR`` if it is an absolute directory of ours that no one else can enter;
    None (the system temp directory) otherwise."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if not os.path.isabs(runtime):
        return None
    try:
        info = os.lstat(runtime)
    except OSError:
        return None
    private = stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077
    return runtime if private else None


class AnswerFiles:
    def __init__(self) -> None:
        self._folder: Path | None = None

    @property
    def folder(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="oss-sidecar-", dir=_base()))
            atexit.register(self.remove)
        return self._folder

    def write(self, title: str, markdown: str) -> Path:
        """A new Markdown file holding the answer under its title."""
        slug = re.sub(r"\W+", "-", title.lower()).strip("-") or "answer"
        fd, name = tempfile.mkstemp(prefix=f"{slug}-", suffix=".md", dir=self.folder)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(f"# {title}\n\n{markdown}\n")
        return Path(name)

    def remove(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
