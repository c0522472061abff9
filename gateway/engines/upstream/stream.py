"""An upstream's OpenAI stream (server-sent events) read into the engine protocol's Deltas."""
from __future__ import annotations

import json
from typing import Any, AsyncIterator, Optional

import aiohttp

from gateway.engines.base import Delta

DONE = object()


async def events(content: aiohttp.StreamReader) -> AsyncIterator[Any]:
    """Each event's JSON payload as it arrives (no buffering), then DONE if the server sent it.

    An error event — `data: {"error": ...}` (OpenAI, vLLM, oss-sidecar) or llama.cpp's
    `error: {...}` — is yielded as its payload, with the "error" key.
    """
    while True:
        line = await content.readline()
        if not line:
            return
        line = line.strip()
        if line.startswith(b"data:"):
            data = line[5:].strip()
            if data == b"[DONE]":
                yield DONE
                return
        elif line.startswith(b"error:"):
            data = line[6:].strip()
        else:
            continue  # blank separators, comments (": ping"), event names
        try:
            payload = json.loads(data)
        except ValueError:
            continue
        if isinstance(payload, dict) and "error" not in payload and line.startswith(b"error:"):
            payload = {"error": payload}
        yield payload


def error_message(payload: dict) -> str:
    error = payload.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


class Chunks:
    """Turns a stream's chunks into Deltas; keeps what the last one reports."""

    def __init__(self, chat: bool):
        self.chat = chat
        self.finish_reason: Optional[str] = None
        self.prompt_tokens: Optional[int] = None
        self.completion_tokens: Optional[int] = None
        self.cached_tokens: Optional[int] = None

    def delta(self, chunk: dict) -> Optional[Delta]:
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.prompt_tokens = usage.get("prompt_tokens")
            self.completion_tokens = usage.get("completion_tokens")
            details = usage.get("prompt_tokens_details") or {}
            self.cached_tokens = details.get("cached_tokens")
        timings = chunk.get("timings")
        if self.cached_tokens is None and isinstance(timings, dict) and "cache_n" in timings:
            self.cached_tokens = timings["cache_n"]  # llama.cpp's server
        text = reasoning = ""
        for choice in chunk.get("choices") or ():
            if self.chat:
                delta = choice.get("delta") or {}
                text += delta.get("content") or ""
                # vLLM says `reasoning` (formerly `reasoning_content`); llama.cpp `reasoning_content`.
                reasoning += delta.get("reasoning_content") or delta.get("reasoning") or ""
            else:
                text += choice.get("text") or ""
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return Delta(text=text, reasoning=reasoning) if text or reasoning else None

    def final(self) -> Delta:
        return Delta(
            finish_reason=self.finish_reason or "stop",
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cached_tokens=self.cached_tokens,
        )
