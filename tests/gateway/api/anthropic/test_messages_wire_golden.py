"""The exact bytes of Messages API answers and streams (a text stream, a tool call, errors),
compared with recordings: a change to the encoding must be a change on purpose.
Greedy decoding on one gateway that serves one request at a time keeps the text stable.
Re-record on purpose only: GOLDEN_RECORD=1 python -m pytest tests/gateway/api/anthropic/test_messages_wire_golden.py
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from wire_golden import MODEL, assert_matches_recording, exchange, serial_gateway  # noqa: F401 (a fixture)

GOLDEN = Path(__file__).resolve().parent / "golden"
WEATHER = {"name": "get_weather", "description": "Current weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 16}},
                            "required": ["city"]}}

CASES = {
    "messages_stream": ("POST", "/v1/messages", {
        "model": MODEL, "max_tokens": 8, "temperature": 0, "stream": True,
        "system": "Be brief.", "messages": [{"role": "user", "content": "Say hello."}]}),
    "messages_stream_tool_use": ("POST", "/v1/messages?beta=true", {
        "model": MODEL, "max_tokens": 40, "temperature": 0, "stream": True, "tools": [WEATHER],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "messages": [{"role": "user", "content": "Weather in Paris?"}]}),
    "messages_stop_sequence": ("POST", "/v1/messages", {
        "model": MODEL, "max_tokens": 16, "temperature": 0, "stop_sequences": ["!"],
        "messages": [{"role": "user", "content": "Say hello."}]}),
    "count_tokens": ("POST", "/v1/messages/count_tokens", {
        "model": MODEL, "system": "Be brief.", "tools": [WEATHER], "messages": [{"role": "user", "content": "Hi"}]}),
    "error_bad_value": ("POST", "/v1/messages", {
        "model": MODEL, "max_tokens": 4, "temperature": 5, "messages": [{"role": "user", "content": "x"}]}),
    "error_invalid_json": ("POST", "/v1/messages", "{not json"),
    "error_unknown_model": ("POST", "/v1/messages", {
        "model": "claude-nothing", "max_tokens": 4, "messages": [{"role": "user", "content": "x"}]}),
    "error_prompt_too_long": ("POST", "/v1/messages", {
        "model": MODEL, "max_tokens": 2, "stream": True, "messages": [{"role": "user", "content": "word " * 1200}]}),
}


def _mask(data: bytes) -> bytes:
    # A first token later than 2 s (a busy machine) adds a ping every 10 s while it waits.
    data = re.sub(rb'(event: ping\ndata: \{"type":"ping"\}\n\n)+', rb'event: ping\ndata: {"type":"ping"}\n\n', data)
    data = re.sub(rb'"id": ?"msg_[0-9a-f]+"', rb'"id":"ID"', data)
    data = re.sub(rb'"id": ?"call_[0-9A-Za-z]+"', rb'"id":"CALL_ID"', data)
    return re.sub(rb'"cache_read_input_tokens": ?[0-9]+', rb'"cache_read_input_tokens":0', data)


@pytest.mark.parametrize("name", sorted(CASES))
def test_wire_bytes_match_the_recording(serial_gateway, name):  # noqa: F811 (the fixture)
    got = exchange(serial_gateway.port, CASES[name], _mask, headers={"anthropic-version": "2023-06-01"})
    assert_matches_recording(got, GOLDEN / f"{name}.txt", _mask)
