"""Admission control: a concurrency limit counted in sequences, a bounded FIFO queue, and a
clear answer past it.

A request holds one slot per sequence it runs (prompts × n), capped at the whole limit, so a
fan-out cannot take the engine while holding a single slot. Overload is answered, never
hung: a request that finds the queue full, or waits longer than the queue timeout, gets 429
with Retry-After (the caller turns `Overloaded` into that).
"""
from __future__ import annotations

import asyncio
import collections
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
        # Waiters in arrival order: (slots wanted, future set when they are granted).
        self._queue: collections.deque[tuple[int, asyncio.Future]] = collections.deque()
        self.running = 0  # requests holding slots
        self.held = 0  # slots held (sequences, capped per request at max_concurrency)
        self.waiting = 0
        self.rejected_total = 0

    def _grant(self) -> None:
        """Admit waiters from the head of the queue while their slots are free (strict FIFO)."""
        while self._queue:
            want, future = self._queue[0]
            if future.done():  # timed out or cancelled while queued
                self._queue.popleft()
                continue
            if self.held + want > self.max_concurrency:
                return
            self._queue.popleft()
            self.held += want
            future.set_result(None)

    @contextlib.asynccontextmanager
    async def slot(self, sequences: int = 1) -> AsyncIterator[None]:
        want = max(1, min(sequences, self.max_concurrency))
        if self._queue or self.held + want > self.max_concurrency:
            if self.waiting >= self.max_queue:
                self.rejected_total += 1
                raise Overloaded(
                    f"the server is at capacity ({self.running} requests running, {self.waiting} waiting); retry shortly",
                    self._retry_after,
                )
            future = asyncio.get_running_loop().create_future()
            self._queue.append((want, future))
            self.waiting += 1
            try:
                await asyncio.wait_for(asyncio.shield(future), self._timeout)
            except BaseException as exc:  # timed out, or cancelled (the client went away)
                if future.done() and not future.cancelled():
                    self.held -= want  # granted at the same moment: give the slots back
                else:
                    future.cancel()
                self._grant()  # a waiter behind this one may fit now
                if isinstance(exc, asyncio.TimeoutError):
                    self.rejected_total += 1
                    raise Overloaded(
                        f"the request waited {self._timeout:g} s in the queue without a free slot; retry shortly",
                        self._retry_after,
                    ) from None
                raise
            finally:
                self.waiting -= 1
        else:
            self.held += want
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self.held -= want
            self._grant()

