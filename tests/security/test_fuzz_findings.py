"""What the schemathesis run over /openapi.json found, one reproducer each: a 4xx in the API's own error shape, never a 500.

bench/fuzz_openapi.py is the long run (docs/BENCHMARKS.md); each answer >= 500 it finds gets
its body here, fixed at its cause.
"""
from __future__ import annotations

import httpx
import pytest


@pytest.fixture(scope="module")
def http(gateway):
    with httpx.Client(base_url=gateway.url, timeout=120) as c:
        yield c


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize("kind", [{}, [], 1, None])
def test_anthropic_content_block_type_that_is_no_string_is_400(http, path, kind):
    # An object as a block's `type` was looked up in a dict of block types: TypeError, 500.
    body = {"model": "m", "messages": [{"role": "user", "content": [{"type": kind, "text": "hi"}]}]}
    if path == "/v1/messages":
        body["max_tokens"] = 2
    answer = http.post(path, json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert "content[0]" in error["error"]["message"]


@pytest.mark.parametrize("messages", [
    # A trailing assistant message that calls tools: llama.cpp's template endpoint said 400,
    # which /tokenize passed on as a 500; chat completions refused it already.
    [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}]}],
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}],
])
def test_tokenize_refuses_the_histories_chat_refuses(http, messages):
    answer = http.post("/tokenize", json={"messages": messages})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"].startswith(f"messages[{len(messages) - 1}]")
