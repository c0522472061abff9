"""Tools between the neutral types and llama.cpp's own (OpenAI-shaped) ones: the definitions
llama.cpp renders into the chat template, and its streamed tool-call deltas as neutral pieces.
A forced call (`required` or a named function) is constrained by gateway/engines/
tool_call_format.py's grammar (translate.py puts it in the body)."""
from __future__ import annotations

from typing import Any

from gateway.engines.base import ToolCallPiece


def tool_definitions(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": tool} for tool in tools]


def tool_call_piece(call: dict[str, Any]) -> ToolCallPiece:
    """llama.cpp's streamed tool-call delta (OpenAI's shape) as a neutral piece."""
    function = call.get("function") or {}
    return ToolCallPiece(
        index=call.get("index", 0),
        id=call.get("id") or None,
        name=function.get("name") or None,
        arguments=function.get("arguments") or "",
    )
