"""The serving core's events as a response's output items, and, streamed, as OpenAI's event
sequence: response.created, response.in_progress, then per item output_item.added, its content
(content_part.added, output_text / reasoning_text deltas, content_part.done, or
function_call_arguments deltas), output_item.done, and last response.completed, .incomplete
(the output limit was hit) or .failed (with an `error` event before it). Every event carries
its `sequence_number`, counted from 0.

Output items follow the model's output: reasoning first (as a `reasoning` item with
reasoning_text content, never in the text), then text (a `message`), then each tool call (a
`function_call`); a change of kind closes the open item.
"""
from __future__ import annotations

import json
import uuid
from typing import Any, Optional

from gateway.errors import ApiError
from gateway.serving import ChoiceEvent, ChoiceResult


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _message(item_id: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}


def _text_part(text: str = "") -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _reasoning(item_id: str) -> dict[str, Any]:
    return {"id": item_id, "type": "reasoning", "summary": [], "content": [], "status": "in_progress"}


def _reasoning_part(text: str = "") -> dict[str, Any]:
    return {"type": "reasoning_text", "text": text}


def _function_call(item_id: str, call_id: str, name: str, namespace: Optional[str]) -> dict[str, Any]:
    item = {"id": item_id, "type": "function_call", "status": "in_progress", "arguments": "", "call_id": call_id,
            "name": name}
    if namespace:
        item["namespace"] = namespace
    return item


def output_items(result: ChoiceResult, namespaces: dict[str, str]) -> list[dict[str, Any]]:
    """A finished choice's output items (the answer without streaming)."""
    status = "incomplete" if result.finish_reason == "length" else "completed"
    items = []
    if result.reasoning:
        item = _reasoning(new_id("rs"))
        item.update(content=[_reasoning_part(result.reasoning)], status=status)
        items.append(item)
    if result.text or not result.tool_calls:
        item = _message(new_id("msg"))
        item.update(content=[_text_part(result.text)], status=status)
        items.append(item)
    for call in result.tool_calls:
        item = _function_call(new_id("fc"), call.id or new_id("call"), call.name, namespaces.get(call.name))
        item.update(arguments=call.arguments, status=status)
        items.append(item)
    return items


class EventStream:
    """Turns a run's events into the response's SSE events (bytes), and keeps the output items
    for the final response object."""

    def __init__(self, response: dict[str, Any], namespaces: dict[str, str]):
        self.response = response
        self.output: list[dict[str, Any]] = response["output"]
        self._namespaces = namespaces
        self._sequence = 0
        self._open: Optional[dict[str, Any]] = None  # the item being written
        self._open_kind = ""  # "reasoning" | "text" | f"call{index}"
        self._pieces: list[str] = []  # the open item's text or arguments so far

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return f"event: {kind}\ndata: {data}\n\n".encode()

    def start(self) -> bytes:
        return self._event("response.created", response=self.response) + self._event(
            "response.in_progress", response=self.response
        )

    def feed(self, event: ChoiceEvent) -> bytes:
        out = b""
        if event.reasoning:
            out += self._switch("reasoning")
            out += self._delta("response.reasoning_text.delta", event.reasoning)
        if event.text:
            out += self._switch("text")
            out += self._delta("response.output_text.delta", event.text)
        for piece in event.tool_calls:
            kind = f"call{piece.index}"
            if self._open_kind != kind:
                out += self._close()
                name = piece.name or ""
                item = _function_call(new_id("fc"), piece.id or new_id("call"), name, self._namespaces.get(name))
                out += self._open_item(kind, item)
            if piece.arguments:
                self._pieces.append(piece.arguments)
                out += self._event(
                    "response.function_call_arguments.delta",
                    item_id=self._open["id"], output_index=len(self.output) - 1, delta=piece.arguments,
                )
        return out

    def finish(self, finish_reason: Optional[str], usage: dict[str, Any]) -> bytes:
        """The last events of a run that ended: the open item closed, then .completed or
        .incomplete (finish reason "length": the output limit)."""
        incomplete = finish_reason == "length"
        out = self._close("incomplete" if incomplete else "completed")
        self.response["usage"] = usage
        if incomplete:
            self.response.update(status="incomplete", incomplete_details={"reason": "max_output_tokens"})
            return out + self._event("response.incomplete", response=self.response)
        self.response["status"] = "completed"
        return out + self._event("response.completed", response=self.response)

    def fail(self, error: ApiError) -> bytes:
        """A run that failed after the stream began: an `error` event, then response.failed."""
        out = self._close("incomplete")
        code = error.code or error.type
        out += self._event("error", code=code, message=error.message, param=error.param)
        self.response.update(status="failed", error={"code": code, "message": error.message})
        return out + self._event("response.failed", response=self.response)

    # ---- items --------------------------------------------------------------------------
    def _switch(self, kind: str) -> bytes:
        if self._open_kind == kind:
            return b""
        out = self._close()
        if kind == "reasoning":
            return out + self._open_item(kind, _reasoning(new_id("rs")), _reasoning_part())
        return out + self._open_item(kind, _message(new_id("msg")), _text_part())

    def _open_item(self, kind: str, item: dict[str, Any], part: Optional[dict[str, Any]] = None) -> bytes:
        self._open, self._open_kind, self._pieces = item, kind, []
        self.output.append(item)
        index = len(self.output) - 1
        out = self._event("response.output_item.added", output_index=index, item=item)
        if part is not None:
            item["content"].append(part)
            out += self._event(
                "response.content_part.added", item_id=item["id"], output_index=index, content_index=0, part=part
            )
        return out

    def _delta(self, kind: str, text: str) -> bytes:
        assert self._open is not None
        self._pieces.append(text)
        fields: dict[str, Any] = dict(item_id=self._open["id"], output_index=len(self.output) - 1, content_index=0,
                                      delta=text)
        if kind == "response.output_text.delta":
            fields["logprobs"] = []
        return self._event(kind, **fields)

    def _close(self, status: str = "completed") -> bytes:
        item = self._open
        if item is None:
            return b""
        index = len(self.output) - 1
        whole = "".join(self._pieces)
        common = dict(item_id=item["id"], output_index=index)
        out = b""
        if item["type"] == "function_call":
            item["arguments"] = whole
            out += self._event("response.function_call_arguments.done", **common, name=item["name"], arguments=whole)
        else:
            part = item["content"][0]
            part["text"] = whole
            if item["type"] == "message":
                out += self._event("response.output_text.done", **common, content_index=0, text=whole, logprobs=[])
            else:
                out += self._event("response.reasoning_text.done", **common, content_index=0, text=whole)
            out += self._event("response.content_part.done", **common, content_index=0, part=part)
        item["status"] = status
        out += self._event("response.output_item.done", output_index=index, item=item)
        self._open, self._open_kind, self._pieces = None, "", []
        return out
