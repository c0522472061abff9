"""Room in the KV cache pool that all slots share (llamacpp.context_total): each run reserves
the tokens it may fill before it goes to llama.cpp, and waits, in arrival order, while the
others' reservations leave too little. llama.cpp's own server does not: when a unified pool
fills, it ends every run in it with "Context size has been exceeded" (after minutes of
retrying with smaller batches on a slow machine).

A run's reservation: its prompt and its output limit, at most one window. A run without an
output limit (it may generate to the window's end) reserves its prompt and a fair share of the
pool, the pool's size over n_parallel: reserving whole windows would run such requests one at
a time in the default pool of one window. Such a run can still outgrow its share; then the
engine runs it again if it had sent nothing yet, or ends it with an error that names the
setting (engine.py).

A prompt is counted by its bytes first (a token is at least one byte of text, so its size in
bytes, plus the chat template's scaffolding, is an upper bound) and tokenized only when that
bound does not fit the free room, as the serving core does for the window.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from typing import AsyncIterator, Optional

from gateway.engines.base import GenerationRequest

# Tokens of chat template around the messages (roles, turn markers, a default system prompt).
TEMPLATE_ALLOWANCE = 256


def prompt_byte_bound(request: GenerationRequest, forced_prompt: Optional[str]) -> int:
    """An upper bound of the prompt's tokens, without a tokenizer."""
    if forced_prompt is not None:
        text = forced_prompt
    elif request.messages is not None:
        text = json.dumps([request.messages, request.tools], ensure_ascii=False)
    else:
        text = request.prompt or ""
    return len(text.encode()) + TEMPLATE_ALLOWANCE


class KVPool:
    def __init__(self, tokens: int):
        self.tokens = tokens
        self.reserved = 0
        self.waited_total = 0  # runs that waited for room
        self._turn = asyncio.Lock()  # first come, first served (asyncio.Lock wakes in order)
        self._released = asyncio.Event()

    def fits(self, need: int) -> bool:
        return self.reserved + need <= self.tokens

    @contextlib.asynccontextmanager
    async def holding(self, need: int) -> AsyncIterator[None]:
        """Reserve `need` tokens (at most the pool) for the body, waiting for room first."""
        need = min(need, self.tokens)
        async with self._turn:
            if not self.fits(need):
                self.waited_total += 1
            while self.reserved and not self.fits(need):
                self._released.clear()
                await self._released.wait()
            self.reserved += need
        try:
            yield
        finally:
            self.reserved -= need
            self._released.set()
