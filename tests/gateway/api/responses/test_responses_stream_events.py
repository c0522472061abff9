"""The Responses event sequence for output the default model never writes (reasoning, as gpt-oss
writes it; text then a call; an error mid-stream), from the serving core's events straight
into the encoder: OpenAI's order, one item per kind, sequence numbers from 0."""
from __future__ import annotations

import json

from gateway.api.responses.stream import EventStream
from gateway.engines.base import ToolCallPiece
from gateway.errors import ApiError
from gateway.serving import ChoiceEvent


def _events(data: bytes) -> list[dict]:
    out = []
    for block in data.decode().split("\n\n"):
        if block:
            kind, payload = block.split("\n")
            event = json.loads(payload.removeprefix("data: "))
            assert kind == f"event: {event['type']}"
            out.append(event)
    return out


def _stream() -> EventStream:
    return EventStream({"id": "resp_1", "object": "response", "status": "in_progress", "output": []}, {"f": "ns"})


def test_reasoning_text_and_a_call_each_become_an_item_in_order():
    stream = _stream()
    data = stream.start()
    for event in [
        ChoiceEvent(0, reasoning="Think"), ChoiceEvent(0, reasoning="ing."), ChoiceEvent(0, text="Calling."),
        ChoiceEvent(0, tool_calls=[ToolCallPiece(0, id="call_1", name="f", arguments='{"a"')]),
        ChoiceEvent(0, tool_calls=[ToolCallPiece(0, arguments=": 1}")]),
    ]:
        data += stream.feed(event)
    data += stream.finish("tool_calls", {"input_tokens": 1})
    events = _events(data)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.reasoning_text.delta", "response.reasoning_text.delta",
        "response.reasoning_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done", "response.completed",
    ]
    reasoning, message, call = events[-1]["response"]["output"]
    assert reasoning["type"] == "reasoning" and reasoning["content"] == [{"type": "reasoning_text", "text": "Thinking."}]
    assert message["content"][0]["text"] == "Calling."  # the reasoning never leaks into the text
    assert call == {"id": call["id"], "type": "function_call", "status": "completed", "arguments": '{"a": 1}',
                    "call_id": "call_1", "name": "f", "namespace": "ns"}
    assert [e["output_index"] for e in events if e["type"] == "response.output_item.done"] == [0, 1, 2]


def test_an_error_mid_stream_is_an_error_event_then_response_failed():
    stream = _stream()
    data = stream.start() + stream.feed(ChoiceEvent(0, text="Hel"))
    data += stream.fail(ApiError(500, "the engine failed: boom", type="server_error", code="engine_error"))
    events = _events(data)
    assert [e["type"] for e in events][-4:] == [
        "response.content_part.done", "response.output_item.done", "error", "response.failed"]
    assert events[-2]["code"] == "engine_error" and events[-2]["message"] == "the engine failed: boom"
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"] == {"code": "engine_error",
                                                                "message": "the engine failed: boom"}
    assert failed["output"][0]["status"] == "incomplete"


def test_the_output_limit_ends_in_response_incomplete():
    stream = _stream()
    data = stream.start() + stream.feed(ChoiceEvent(0, text="Hi"))
    events = _events(data + stream.finish("length", {}))
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
