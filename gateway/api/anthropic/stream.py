"""Anthropic's content blocks and stream events from the serving core's events.

The output is a sequence of blocks — `thinking`, `text`, `tool_use` — each opened
(`content_block_start`), grown (`content_block_delta`: text_delta, thinking_delta,
input_json_delta; a thinking block ends with its signature_delta) and closed
(`content_block_stop`) before the next one opens. The same assembly gives the non-streamed
answer's `content`. Per-token events are written from byte templates: they are most of a stream.
"""
from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Optional

from gateway.api.anthropic import protocol as p
from gateway.engines.base import ToolCallPiece

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _dumps(payload).encode() + b"\n\n"


PING = event("ping", {"type": "ping"})
MESSAGE_STOP = event("message_stop", {"type": "message_stop"})


def _delta(index: int, kind: str, field: str, value: str) -> bytes:
    return (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,"delta":{"type":"%s","%s":'
        % (index, kind.encode(), field.encode())
        + _dumps(value).encode()
        + b"}}\n\n"
    )


def signature(thinking: str) -> str:
    """A thinking block's signature: Anthropic's is an opaque proof of the text; here a digest of
    it (clients keep it and send it back; this server does not check it)."""
    return base64.b64encode(hashlib.sha256(thinking.encode()).digest()).decode()


class MessageBlocks:
    """Feed it the output (text after stop matching, reasoning, tool-call pieces); with `stream`,
    each call returns the SSE bytes to send. `content()` is the finished answer's blocks.

    `thinking`: reasoning becomes thinking blocks (off: the model's reasoning is not shown, as
    Anthropic shows none without `thinking`); `show_thinking` False is `display: "omitted"`:
    the blocks come with their signature and no text."""

    def __init__(self, *, stream: bool, thinking: bool, show_thinking: bool = True):
        self.stream = stream
        self.thinking = thinking
        self.show_thinking = show_thinking
        self.blocks: list[dict[str, Any]] = []  # {"type", "parts": [...], ...}
        self._open: Optional[int] = None
        self._calls: dict[int, int] = {}  # tool call index -> block index
        self.output_pieces = 0  # pieces of output: the token count of a stream stopped here

    # ---- feeding -------------------------------------------------------------------------
    def reasoning(self, text: str) -> bytes:
        if not text or not self.thinking:
            return b""
        self.output_pieces += 1
        out = self._ensure("thinking")
        block = self.blocks[self._open]
        block["parts"].append(text)
        if self.stream and self.show_thinking:
            out += _delta(self._open, "thinking_delta", "thinking", text)
        return out

    def text(self, text: str) -> bytes:
        if not text:
            return b""
        self.output_pieces += 1
        out = self._ensure("text")
        self.blocks[self._open]["parts"].append(text)
        if self.stream:
            out += _delta(self._open, "text_delta", "text", text)
        return out

    def tool_call(self, piece: ToolCallPiece) -> bytes:
        out = b""
        index = self._calls.get(piece.index)
        if index is None:
            out += self._close()
            index = self._calls[piece.index] = len(self.blocks)
            self.blocks.append({"type": "tool_use", "id": piece.id or "", "name": piece.name or "", "parts": []})
            self._open = index
            if self.stream:
                out += event("content_block_start", {
                    "type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": piece.id or "", "name": piece.name or "", "input": {}},
                })
        self.output_pieces += 1
        if piece.arguments:
            self.blocks[index]["parts"].append(piece.arguments)
            if self.stream:
                out += _delta(index, "input_json_delta", "partial_json", piece.arguments)
        return out

    def finish(self) -> bytes:
        return self._close()

    # ---- blocks --------------------------------------------------------------------------
    def _ensure(self, kind: str) -> bytes:
        if self._open is not None and self.blocks[self._open]["type"] == kind:
            return b""
        out = self._close()
        self._open = len(self.blocks)
        self.blocks.append({"type": kind, "parts": []})
        if self.stream:
            start = {"type": "thinking", "thinking": "", "signature": ""} if kind == "thinking" else {"type": "text", "text": ""}
            out += event("content_block_start", {"type": "content_block_start", "index": self._open, "content_block": start})
        return out

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        index, self._open = self._open, None
        if not self.stream:
            return b""
        out = b""
        block = self.blocks[index]
        if block["type"] == "thinking":
            out += _delta(index, "signature_delta", "signature", signature("".join(block["parts"])))
        return out + event("content_block_stop", {"type": "content_block_stop", "index": index})

    def content(self) -> list[p.ContentOut]:
        out: list[p.ContentOut] = []
        for block in self.blocks:
            joined = "".join(block["parts"])
            if block["type"] == "text":
                out.append(p.TextOut(text=joined))
            elif block["type"] == "thinking":
                out.append(p.ThinkingOut(thinking=joined if self.show_thinking else "", signature=signature(joined)))
            else:
                out.append(p.ToolUseOut(id=block["id"], name=block["name"], input=_arguments(joined)))
        return out

    @property
    def called_tools(self) -> bool:
        return any(b["type"] == "tool_use" for b in self.blocks)


def _arguments(text: str) -> Any:
    """A call's input: its arguments as an object (an engine's forced calls are valid JSON)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"arguments": text}
    return value if isinstance(value, dict) else {"arguments": value}


def message_start(message_id: str, model: str) -> bytes:
    # The prompt's token count comes from the engine at the end: message_delta carries it.
    usage = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    return event("message_start", {"type": "message_start", "message": {
        "id": message_id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": usage,
    }})


def message_delta(stop_reason: Optional[str], stop_sequence: Optional[str], usage: p.UsageOut) -> bytes:
    return event("message_delta", {
        "type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
        "usage": usage.dump(),
    })
