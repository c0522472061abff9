"""Tool calls as Ollama answers them: each call whole, its arguments a JSON object (not JSON
text, as on the OpenAI wire). In streams Ollama sends a call in one line once it is complete,
never in pieces; here a call is complete when the next one starts or the choice finishes."""
from __future__ import annotations

import json
from typing import Any, Optional

from gateway.engines.base import ToolCallPiece
from gateway.serving import ToolCall


def encode(calls: list[ToolCall], first_index: int = 0) -> tuple[list[dict[str, Any]], str]:
    """Ollama's `tool_calls` for finished calls, and the text of any call whose arguments are not
    a JSON object (one the output limit cut short): Ollama answers what it cannot parse as a
    call as text, in `content`."""
    out: list[dict[str, Any]] = []
    text = ""
    for i, call in enumerate(calls, first_index):
        try:
            arguments = json.loads(call.arguments) if call.arguments.strip() else {}
        except ValueError:
            arguments = None
        if not isinstance(arguments, dict):
            text += f'{{"name": {json.dumps(call.name)}, "arguments": {call.arguments}'
            continue
        out.append({"id": call.id, "function": {"index": i, "name": call.name, "arguments": arguments}})
    return out, text


class StreamedCalls:
    """Collects a stream's tool-call pieces; hands out each call once it is complete."""

    def __init__(self) -> None:
        self._open: dict[int, list] = {}  # index -> [id, name, argument pieces]
        self._done = 0  # calls handed out so far

    def feed(self, pieces: list[ToolCallPiece]) -> list[ToolCall]:
        """Add pieces; the calls that a later call's start has completed."""
        for piece in pieces:
            call = self._open.setdefault(piece.index, [piece.id or "", piece.name or "", []])
            call[0] = call[0] or piece.id or ""
            call[1] = call[1] or piece.name or ""
            call[2].append(piece.arguments)
        newest: Optional[int] = max(self._open) if self._open else None
        return self._take(lambda index: index != newest)

    def finish(self) -> list[ToolCall]:
        """Every call still open: the choice has finished."""
        return self._take(lambda index: True)

    @property
    def handed_out(self) -> int:
        return self._done

    def _take(self, ready) -> list[ToolCall]:
        out = []
        for index in sorted(i for i in self._open if ready(i)):
            call_id, name, pieces = self._open.pop(index)
            out.append(ToolCall(call_id, name, "".join(pieces)))
        self._done += len(out)
        return out
