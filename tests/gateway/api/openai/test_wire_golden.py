"""The exact bytes of OpenAI responses and streams, compared with recordings.

The recordings in tests/gateway/golden/ were taken from the gateway before its serving core
was restructured; a refactor must leave every byte the same (ids and timestamps masked).
Greedy decoding on one gateway that serves one request at a time keeps the text stable.
Re-record on purpose only: GOLDEN_RECORD=1 python3 -m pytest tests/gateway/api/openai/test_wire_golden.py
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from wire_golden import MODEL, assert_matches_recording, exchange, serial_gateway  # noqa: F401 (a fixture)

GOLDEN = Path(__file__).resolve().parent / "golden"

CASES = {
    "chat_stream": ("POST", "/v1/chat/completions", {
        "model": MODEL, "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 8, "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}),
    "chat_n2": ("POST", "/v1/chat/completions", {
        "model": MODEL, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "max_tokens": 6, "temperature": 0, "n": 2}),
    "completion_stream_fim": ("POST", "/v1/completions", {
        "model": MODEL, "prompt": "def add(a, b):\n", "suffix": "\n\nprint(add(1, 2))\n",
        "max_tokens": 8, "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}),
    "completion_two_prompts_echo": ("POST", "/v1/completions", {
        "model": MODEL, "prompt": ["The sky is", "Water is"], "max_tokens": 5, "temperature": 0, "echo": True}),
    "error_invalid_json": ("POST", "/v1/chat/completions", "{not json"),
    "error_bad_value": ("POST", "/v1/chat/completions", {
        "model": MODEL, "messages": [{"role": "user", "content": "x"}], "temperature": 5}),
    "error_unknown_model": ("POST", "/v1/completions", {"model": "nope", "prompt": "x"}),
    "error_unknown_endpoint": ("GET", "/v1/nothing-here", None),
    "error_stream_too_long": ("POST", "/v1/completions", {
        "model": MODEL, "prompt": "word " * 1200, "max_tokens": 2, "stream": True}),
    "models": ("GET", "/v1/models", None),
}


def _mask(data: bytes) -> bytes:
    data = re.sub(rb'"id": ?"(chatcmpl|cmpl)-[0-9a-f]+"', rb'"id":"ID"', data)
    # The prompt cache's hits depend on which of n parallel copies llama.cpp starts first.
    data = re.sub(rb'"cached_tokens": ?[0-9]+', rb'"cached_tokens":0', data)
    return re.sub(rb'"created": ?[0-9]+', rb'"created":0', data)


@pytest.mark.parametrize("name", sorted(CASES))
def test_wire_bytes_match_the_recording(serial_gateway, name):  # noqa: F811 (the fixture)
    got = exchange(serial_gateway.port, CASES[name], _mask)
    assert_matches_recording(got, GOLDEN / f"{name}.txt", _mask)
