"""The gate every use of the embedded llama.cpp server passes: a restart (a new thread count)
closes it, waits for the server to be unused, swaps the server and opens it again. Requests that
arrive meanwhile wait at the gate; none is refused."""
from __future__ import annotations

import asyncio
import contextlib
import time
from typing import AsyncIterator


class ServingGate:
    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self._users = 0
        self._unused = asyncio.Event()
        self._unused.set()
        self._unused_since = time.monotonic()

    @property
    def idle(self) -> bool:
        """Nothing uses the server now (no request, no tokenization) and no restart runs."""
        return self._users == 0 and self._open.is_set()

    def idle_for(self) -> float:
        """Seconds since the server was last used; 0 while it is used or a restart runs."""
        return time.monotonic() - self._unused_since if self.idle else 0.0

    @contextlib.asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        """One use of the server; waits while a restart runs."""
        while not self._open.is_set():
            await self._open.wait()
        self._users += 1
        self._unused.clear()
        try:
            yield
        finally:
            self._users -= 1
            if self._users == 0:
                self._unused.set()
                self._unused_since = time.monotonic()

    @contextlib.asynccontextmanager
    async def closed(self) -> AsyncIterator[None]:
        """The server to oneself: new uses wait until the block ends; uses already admitted
        finish first."""
        self._open.clear()
        try:
            await self._unused.wait()
            yield
        finally:
            self._open.set()
