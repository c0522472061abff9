"""llama.cpp's own HTTP listener, made private: every xllamacpp Server opens one (there is no
in-process tokenize call), and by default it is a second door to the model — TCP loopback, no
key, CORS for any origin. `PrivateListener.configure(params)` puts it on a Unix socket in a
0700 directory behind a random key; `session()` is the aiohttp client that reaches it.
Used by the chat engine and the embedding model (docs/SECURITY.md).
"""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from typing import Any, Optional

import aiohttp

BASE_URL = "http://llama.cpp"  # the host part is unused on a Unix socket


class PrivateListener:
    def __init__(self, props: bool = False) -> None:
        # /props only where the owner reads it (the chat engine: the template's tool support);
        # only this process can reach the socket, and only with the key.
        self._props = props
        self._dir: Optional[str] = None
        self._secret = secrets.token_urlsafe(32)

    @property
    def socket_path(self) -> str:
        assert self._dir is not None, "configure() first"
        return os.path.join(self._dir, "llama.sock")

    def configure(self, params: Any) -> None:
        self._dir = tempfile.mkdtemp(prefix="oss-sidecar-llama-")  # created 0700
        params.hostnames = [self.socket_path]  # llama.cpp binds a Unix socket for a name ending in .sock
        params.api_keys = [self._secret]
        params.cors_origins = ""
        params.cors_credentials = False
        params.endpoint_slots = False
        params.endpoint_props = self._props
        params.ui = False

    def session(self, timeout_s: float = 60) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=self.socket_path),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            headers={"Authorization": f"Bearer {self._secret}"},
        )

    def remove(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
