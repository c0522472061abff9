"""Admission control: a concurrency limit, a bounded FIFO queue, and a clear answer past it.

Overload is answered, never hung: a request that finds the queue full, or waits longer than
the queue timeout, gets 429 with Retry-After (the caller turns `Overloaded` into that).
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator


class Overloaded(Exception):
    def __init__(self, reason: str, retry_after_s: int):
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class Admission:
    def __init__(self, max_concurrency: int, max_queue: int, queue_timeout_s: float, retry_after_s: int):
        self.max_concurrency = max_concurrency
        self.max_queue = max_queue
        self._timeout = queue_timeout_s
        self._retry_after = retry_after_s
        self._slots = asyncio.Semaphore(max_concurrency)
        self.running = 0
        self.waiting = 0
        self.rejected_total = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._slots.locked() or self.waiting:
            if self.waiting >= self.max_queue:
                self.rejected_total += 1
                raise Overloaded(
                    f"the server is at capacity ({self.running} requests running, {self.waiting} waiting); retry shortly",
                    self._retry_after,
                )
            self.waiting += 1
            try:
                await asyncio.wait_for(self._slots.acquire(), self._timeout)
            except asyncio.TimeoutError:
                self.rejected_total += 1
                raise Overloaded(
                    f"the request waited {self._timeout:g} s in the queue without a free slot; retry shortly",
                    self._retry_after,
                ) from None
            finally:
                self.waiting -= 1
        else:
            await self._slots.acquire()
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()
