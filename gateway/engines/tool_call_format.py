"""Forced tool calls in the Hermes format (`<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`):
the grammar that makes any model write one, and the incremental reader that turns the text into
tool-call pieces as it streams.

The embedded engine uses it for `tool_choice: required` and a named function: the model's chat
template has already shown it the tools, and the grammar (llama.cpp's llguidance, with its own
JSON-schema support) leaves it no choice but a call that parses against one tool's parameters.
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Any

from gateway.engines.base import ToolCallPiece

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_HEAD = re.compile(r'\s*\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*')


_SUBSCHEMA_KEYS = ("items", "additionalItems", "not", "if", "then", "else", "contains")
_SUBSCHEMA_LIST_KEYS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAP_KEYS = ("properties", "$defs", "definitions", "patternProperties")


def closed_schema(schema: Any) -> Any:
    """`schema` with every object that lists its properties closed to others, unless it says
    otherwise (`additionalProperties` given). JSON Schema leaves such objects open, and llguidance
    follows it; llama.cpp's own schema grammar and vLLM's xgrammar close them, and a small model
    left the choice keeps adding keys until the output limit cuts the call."""
    if not isinstance(schema, dict):
        return schema
    closed = dict(schema)
    for key in _SUBSCHEMA_KEYS:
        if key in closed:
            closed[key] = closed_schema(closed[key])
    for key in _SUBSCHEMA_LIST_KEYS:
        if isinstance(closed.get(key), list):
            closed[key] = [closed_schema(s) for s in closed[key]]
    for key in _SUBSCHEMA_MAP_KEYS:
        if isinstance(closed.get(key), dict):
            closed[key] = {name: closed_schema(s) for name, s in closed[key].items()}
    if isinstance(closed.get("properties"), dict) and "additionalProperties" not in closed:
        closed["additionalProperties"] = False
    elif isinstance(closed.get("additionalProperties"), dict):
        closed["additionalProperties"] = closed_schema(closed["additionalProperties"])
    return closed


def call_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """One call of any of `tools`: its name, then arguments valid against its parameters (objects
    closed as `closed_schema` says)."""
    return {
        "anyOf": [
            {
                "type": "object",
                "properties": {
                    "name": {"const": tool["name"]},
                    "arguments": closed_schema(tool.get("parameters") or {"type": "object"}),
                },
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
            for tool in tools
        ]
    }


def call_grammar(tools: list[dict[str, Any]]) -> str:
    """A llguidance (Lark) grammar: exactly one tagged call. One, not several: a model forced to
    call that is allowed more keeps calling (small ones do) until the output limit cuts a call."""
    return (
        "%llguidance {}\n"
        "start: call\n"
        f'call: "{OPEN}\\n" body "\\n{CLOSE}"\n'
        f"body: %json {json.dumps(call_schema(tools), separators=(',', ':'))}\n"
    )


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


class ToolCallReader:
    """Reads the text of forced calls as it streams; yields each call's id and name once known,
    then its arguments in pieces as they arrive. `tagged=False` reads one bare call object
    (`{"name": ..., "arguments": ...}`, as a JSON-schema constraint produces it)."""

    def __init__(self, tagged: bool = True) -> None:
        self._buf = ""
        self._tagged = tagged
        self._state = "outside" if tagged else "head"  # outside | head | args | tail | done
        self._index = -1
        self._depth = 0
        self._in_string = False
        self._escaped = False

    @property
    def calls(self) -> int:
        return self._index + 1

    def feed(self, text: str) -> list[ToolCallPiece]:
        self._buf += text
        pieces: list[ToolCallPiece] = []
        while True:
            if self._state == "outside":
                at = self._buf.find(OPEN)
                if at < 0:
                    return pieces
                self._buf = self._buf[at + len(OPEN):]
                self._state = "head"
            elif self._state == "head":
                match = _HEAD.match(self._buf)
                if match is None:
                    return pieces
                self._index += 1
                name = json.loads(f'"{match.group(1)}"')
                pieces.append(ToolCallPiece(self._index, id=new_call_id(), name=name))
                self._buf = self._buf[match.end():]
                self._state, self._depth, self._in_string, self._escaped = "args", 0, False, False
            elif self._state == "args":
                if self._depth == 0:
                    self._buf = self._buf.lstrip()
                end = self._scan_arguments()
                if end is None:
                    if self._buf:
                        pieces.append(ToolCallPiece(self._index, arguments=self._buf))
                    self._buf = ""
                    return pieces
                pieces.append(ToolCallPiece(self._index, arguments=self._buf[:end]))
                self._buf = self._buf[end:]
                self._state = "tail"
            elif self._state == "done":
                return pieces
            else:  # tail: the closing brace of the call object and the closing tag
                if not self._tagged:
                    self._state = "done"
                    continue
                at = self._buf.find(CLOSE)
                if at < 0:
                    return pieces
                self._buf = self._buf[at + len(CLOSE):]
                self._state = "outside"

    def _scan_arguments(self) -> int | None:
        """Where the arguments' JSON value ends in the buffer, or None if it goes on."""
        for i, ch in enumerate(self._buf):
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif ch == "\\":
                    self._escaped = True
                elif ch == '"':
                    self._in_string = False
            elif ch == '"':
                self._in_string = True
            elif ch in "{[":
                self._depth += 1
            elif ch in "}]":
                self._depth -= 1
                if self._depth == 0:
                    return i + 1
        return None
