"""The exact bytes of Responses API streams and errors, compared with recordings (ids,
timestamps and prompt-cache hits masked): a text stream, a streamed function call, errors.
Greedy decoding on a gateway that serves one request at a time keeps the text stable.
Re-record on purpose only:
GOLDEN_RECORD=1 python3 -m pytest tests/gateway/api/responses/test_responses_wire_golden.py
"""
from __future__ import annotations

import http.client
import json
import os
import re
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
MODEL = "SmolLM2-135M-Instruct.Q4_1"
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


def _exchange(port: int, method: str, path: str, body) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    payload = None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    head = f"{resp.status} {resp.getheader('Content-Type')}\n".encode()
    return head + _mask(data)


@pytest.fixture(scope="module")
def serial_gateway(start_gateway):
    # Context 1024 per slot makes the too-long case short to send.
    return start_gateway("--max-concurrency", "1", env={"OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT": "1024",
                                                        "OSS_SIDECAR_LLAMACPP__N_PARALLEL": "1",
                                                        "OSS_SIDECAR_EMBEDDINGS__ENABLED": "false"})


@pytest.mark.parametrize("name", sorted(CASES))
def test_wire_bytes_match_the_recording(serial_gateway, name):
    method, path, body = CASES[name]
    got = _exchange(serial_gateway.port, method, path, body)
    golden = GOLDEN / f"{name}.txt"
    if os.environ.get("GOLDEN_RECORD") == "1":
        GOLDEN.mkdir(exist_ok=True)
        golden.write_bytes(got)
    assert got == _mask(golden.read_bytes())
