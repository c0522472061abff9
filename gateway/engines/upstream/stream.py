"""An upstream's OpenAI stream (server-sent events) read into the engine protocol's Deltas."""
from __future__ import annotations

import json
from typing import Any, AsyncIterator, Optional

import aiohttp

from gateway.engines.base import Delta, TokenLogprob, ToolCallPiece

DONE = object()


class MalformedStream(Exception):
    """The upstream's stream is not what OpenAI's wire format says (its fault: a 502)."""


async def events(content: aiohttp.StreamReader) -> AsyncIterator[Any]:
    """Each event's JSON payload as it arrives (no buffering), then DONE if the server sent it.

    An error event — `data: {"error": ...}` (OpenAI, vLLM, oss-sidecar) or llama.cpp's
    `error: {...}` — is yielded as its payload, with the "error" key. A line longer than
    aiohttp's line limit (512 KiB; one event carries a few tokens) or a data line that is no JSON is
    MalformedStream.
    """
    while True:
        try:
            line = await content.readline()
        except (ValueError, aiohttp.http_exceptions.HttpProcessingError) as exc:  # LineTooLong: past 512 KiB
            raise MalformedStream(f"an event larger than this gateway reads ({exc.__class__.__name__})") from None
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
        if not data:
            continue  # an empty data line: a keep-alive some servers send
        try:
            payload = json.loads(data)
        except ValueError:
            raise MalformedStream(f"a data line that is no JSON: {data[:80]!r}") from None
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
        try:
            return self._delta(chunk)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a field of the wrong shape
            raise MalformedStream(f"a chunk this gateway cannot read ({exc.__class__.__name__}: {exc})") from None

    def _delta(self, chunk: dict) -> Optional[Delta]:
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
        calls: list[ToolCallPiece] = []
        logprobs: list[TokenLogprob] = []
        for choice in chunk.get("choices") or ():
            if self.chat:
                delta = choice.get("delta") or {}
                text += delta.get("content") or ""
                # vLLM says `reasoning` (formerly `reasoning_content`); llama.cpp `reasoning_content`.
                reasoning += delta.get("reasoning_content") or delta.get("reasoning") or ""
                calls += [_tool_call_piece(c) for c in delta.get("tool_calls") or ()]
            else:
                text += choice.get("text") or ""
            logprobs += _logprobs(choice.get("logprobs"))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if text or reasoning or calls or logprobs:
            return Delta(text=text, reasoning=reasoning, tool_calls=calls, logprobs=logprobs)
        return None

    def final(self) -> Delta:
        return Delta(
            finish_reason=self.finish_reason or "stop",
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cached_tokens=self.cached_tokens,
        )


# Characters one token may spell, at most: the bound on a stream's text is max_tokens times this
# (vocabularies' longest pieces are runs of spaces or '=' in the tens of characters).
MAX_CHARS_PER_TOKEN = 128


class OutputBudget:
    """The request's own output bound, held against what an upstream sends: at most `limit`
    pieces (a correct server sends at least one token per piece) and `limit` times
    MAX_CHARS_PER_TOKEN characters."""

    def __init__(self, limit: int):
        self.limit = limit
        self.pieces = 0
        self._chars_left = limit * MAX_CHARS_PER_TOKEN

    def over(self, delta: Delta) -> bool:
        """True when `delta` passes the bound: the answer ends there, with what of `delta` fits
        (its text cut to the characters left; nothing of a piece past `limit`)."""
        if self.pieces >= self.limit:
            delta.text, delta.reasoning, delta.tool_calls, delta.logprobs = "", "", [], []
            return True
        self.pieces += 1
        cut = False
        for name in ("text", "reasoning"):
            value = getattr(delta, name)
            if len(value) > self._chars_left:
                value, cut = value[: self._chars_left], True
                setattr(delta, name, value)
            self._chars_left -= len(value)
        return cut

    def final(self, chunks: "Chunks") -> Delta:
        """The last delta of an answer cut at the bound: finish_reason "length", as when the
        model itself runs out of max_tokens."""
        return Delta(
            finish_reason="length", prompt_tokens=chunks.prompt_tokens,
            completion_tokens=min(self.pieces, self.limit), cached_tokens=chunks.cached_tokens,
        )


def _tool_call_piece(call: dict) -> ToolCallPiece:
    """A streamed tool-call delta in OpenAI's shape as a neutral piece."""
    function = call.get("function") or {}
    return ToolCallPiece(
        index=call.get("index", 0),
        id=call.get("id") or None,
        name=function.get("name") or None,
        arguments=function.get("arguments") or "",
    )


def _logprobs(block: Optional[dict]) -> list[TokenLogprob]:
    """OpenAI's chat shape (`content: [...]`, llama.cpp's completions too) or the legacy
    completions shape (`tokens`, `token_logprobs`, `top_logprobs`)."""
    if not block:
        return []
    if "content" in block:
        out = []
        for e in block.get("content") or ():
            item = TokenLogprob(e.get("token", ""), float(e.get("logprob", 0.0)), e.get("bytes"))
            item.top = [TokenLogprob(t.get("token", ""), float(t.get("logprob", 0.0)), t.get("bytes"))
                        for t in e.get("top_logprobs") or ()]
            out.append(item)
        return out
    tops = block.get("top_logprobs") or []
    out = []
    for i, (token, logprob) in enumerate(zip(block.get("tokens") or (), block.get("token_logprobs") or ())):
        item = TokenLogprob(token, float(logprob if logprob is not None else 0.0), list(token.encode()))
        alternatives = tops[i] if i < len(tops) and isinstance(tops[i], dict) else {}
        item.top = [TokenLogprob(t, float(lp), list(t.encode())) for t, lp in alternatives.items()]
        out.append(item)
    return out
