"""Ollama's whole-call encoding of the serving core's tool-call pieces (gateway/api/ollama/tool_calls.py),
on the piece sequences engines stream: several calls in one answer (the embedded model makes one
at most, so this is not reachable end to end here) and a call the output limit cut short."""
from __future__ import annotations

from gateway.api.ollama.tool_calls import StreamedCalls, encode
from gateway.engines.base import ToolCallPiece
from gateway.serving import ToolCall


def test_each_call_is_handed_out_whole_once_the_next_starts_or_the_choice_ends():
    calls = StreamedCalls()
    assert calls.feed([ToolCallPiece(0, id="call_a", name="get_weather")]) == []
    assert calls.feed([ToolCallPiece(0, arguments='{"city": ')]) == []
    assert calls.feed([ToolCallPiece(0, arguments='"Paris"}')]) == []
    first = calls.feed([ToolCallPiece(1, id="call_b", name="get_time", arguments='{"zone": "CET"}')])
    assert first == [ToolCall("call_a", "get_weather", '{"city": "Paris"}')]
    assert calls.finish() == [ToolCall("call_b", "get_time", '{"zone": "CET"}')]
    assert calls.handed_out == 2 and calls.finish() == []


def test_arguments_become_objects_and_a_cut_call_becomes_text():
    encoded, text = encode([ToolCall("call_a", "f", '{"a": 1}'), ToolCall("call_b", "g", "")], first_index=3)
    assert encoded == [{"id": "call_a", "function": {"index": 3, "name": "f", "arguments": {"a": 1}}},
                       {"id": "call_b", "function": {"index": 4, "name": "g", "arguments": {}}}]
    assert text == ""
    encoded, text = encode([ToolCall("call_c", "f", '{"a": [1, 2')])
    assert encoded == [] and text == '{"name": "f", "arguments": {"a": [1, 2'
