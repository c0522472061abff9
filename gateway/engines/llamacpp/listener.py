"""llama.cpp's own HTTP listener, made private: every xllamacpp Server opens one (there is no
in-process tokenize call), and by default it is a second door to the model — TCP loopback, no
key, CORS for any origin. `PrivateListener.configure(params)` puts it on a Unix socket in a
0700 directory behind a random key; `session()` is the aiohttp client that reaches it.
Used by the chat engine and the embedding model (docs/SECURITY.md).

The directory is this process's to remove: at stop(), at exit (atexit), before a second
signal's immediate exit (`exit_at_once`), and, after a SIGKILL, at the next start of any
oss-sidecar of the same user (the folder's name carries its process id).
"""
from __future__ import annotations

import asyncio
import atexit
import json
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

import aiohttp

BASE_URL = "http://llama.cpp"  # the host part is unused on a Unix socket
PREFIX = "oss-sidecar-llama-"
_OWNED = re.compile(re.escape(PREFIX) + r"(\d+)-")
_live: set[str] = set()  # this process's socket directories


def remove_all() -> None:
    """Remove every socket directory of this process (their listeners die with it)."""
    for path in list(_live):
        shutil.rmtree(path, ignore_errors=True)
        _live.discard(path)


atexit.register(remove_all)


def exit_at_once(status: int) -> None:
    """os._exit for a second SIGTERM or Ctrl-C: os._exit runs no atexit, so the folders go first."""
    remove_all()
    os._exit(status)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> None:
    """Socket directories of this user's processes that no longer run (ended by SIGKILL)."""
    for entry in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        match = _OWNED.match(entry.name)
        try:
            mine = entry.lstat().st_uid == os.getuid()
        except OSError:
            continue
        if match and mine and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


class PrivateListener:
    def __init__(self, props: bool = False, slots: bool = False) -> None:
        # /props only where the owner reads it (the chat engine: the template's tool support);
        # /slots only where the owner saves and restores slots' KV cache (the chat engine, across
        # a restart), into the private folder's `slots/`. Only this process can reach the
        # socket, and only with the key.
        self._props = props
        self._slots = slots
        self._dir: Optional[str] = None
        self._secret = secrets.token_urlsafe(32)

    @property
    def socket_path(self) -> str:
        assert self._dir is not None, "configure() first"
        return os.path.join(self._dir, "llama.sock")

    @property
    def slot_dir(self) -> str:
        """Where llama.cpp saves and restores slots (`/slots/N?action=save|restore`)."""
        assert self._dir is not None, "configure() first"
        return os.path.join(self._dir, "slots")

    def configure(self, params: Any) -> None:
        remove_stale()
        self._dir = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")  # created 0700
        _live.add(self._dir)
        params.hostnames = [self.socket_path]  # llama.cpp binds a Unix socket for a name ending in .sock
        params.api_keys = [self._secret]
        params.cors_origins = ""
        params.cors_credentials = False
        params.endpoint_slots = self._slots
        if self._slots:
            os.mkdir(self.slot_dir, 0o700)
            params.slot_save_path = self.slot_dir + os.sep  # llama.cpp appends the file name as is
        params.endpoint_props = self._props
        params.ui = False

    def session(self, timeout_s: float = 60) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            # llama.cpp's HTTP server closes an idle keep-alive connection after 5 s; a pooled one
            # kept longer is reused just as it closes (ServerDisconnectedError under load).
            connector=aiohttp.UnixConnector(path=self.socket_path, keepalive_timeout=2),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            headers={"Authorization": f"Bearer {self._secret}"},
        )

    async def post(self, path: str, body: dict) -> tuple[int, Any]:
        """One POST on a fresh connection: (status, the JSON answer or its text); (0, why) when
        the listener cannot be reached."""
        try:
            async with self.session() as session, session.post(BASE_URL + path, json=body) as resp:
                status, text = resp.status, await resp.text()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return 0, str(exc) or type(exc).__name__
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def remove(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            _live.discard(self._dir)
