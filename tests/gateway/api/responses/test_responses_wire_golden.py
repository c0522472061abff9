"""The exact bytes of Responses API streams and errors, compared with recordings (ids,
timestamps and prompt-cache hits masked): a text stream, a streamed function call, errors.
Greedy decoding on a gateway that serves one request at a time keeps the text stable.
Re-record on purpose only:
GOLDEN_RECORD=1 python3 -m pytest tests/gateway/api/responses/test_responses_wire_golden.py
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from wire_golden import MODEL, assert_matches_recording, exchange, serial_gateway  # noqa: F401 (a fixture)

GOLDEN = Path(__file__).resolve().parent / "golden"
WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                          "required": ["city"], "additionalProperties": False}}

CASES = {
    "stream_text": ("POST", "/v1/responses", {
        "model": MODEL, "instructions": "Be brief.", "input": "Say hello.", "max_output_tokens": 8,
        "temperature": 0, "stream": True}),
    "stream_function_call": ("POST", "/v1/responses", {
        "model": MODEL, "input": "What is the weather in Paris?", "tools": [WEATHER, {"type": "web_search"}],
        "tool_choice": {"type": "function", "name": "get_weather"}, "max_output_tokens": 40, "temperature": 0,
        "stream": True}),
    "text_json_schema": ("POST", "/v1/responses", {
        "model": MODEL, "input": "Greet me.", "max_output_tokens": 32, "temperature": 0, "text": {"format": {
            "type": "json_schema", "name": "greeting", "strict": True, "schema": {
                "type": "object", "properties": {"greeting": {"enum": ["hi", "hello"]}}, "required": ["greeting"],
                "additionalProperties": False}}}}),
    "error_unknown_field": ("POST", "/v1/responses", {"model": MODEL, "input": "Hi", "temprature": 1}),
    "error_stream_too_long": ("POST", "/v1/responses", {
        "model": MODEL, "input": "word " * 1200, "max_output_tokens": 2, "stream": True}),
    "error_unknown_response": ("GET", "/v1/responses/resp_missing", None),
}


def _mask(data: bytes) -> bytes:
    data = re.sub(rb'"(id|item_id)": ?"(resp|msg|fc|rs)_[0-9a-f]+"', rb'"\1":"ID"', data)
    data = re.sub(rb'"call_id": ?"[^"]+"', rb'"call_id":"ID"', data)
    data = re.sub(rb'"cached_tokens": ?[0-9]+', rb'"cached_tokens":0', data)
    return re.sub(rb'"created_at": ?[0-9]+', rb'"created_at":0', data)


@pytest.mark.parametrize("name", sorted(CASES))
def test_wire_bytes_match_the_recording(serial_gateway, name):  # noqa: F811 (the fixture)
    got = exchange(serial_gateway.port, CASES[name], _mask)
    assert_matches_recording(got, GOLDEN / f"{name}.txt", _mask)
