"""A misbehaving upstream becomes clean errors: a malformed chunk after good ones ends the stream
with an error event and [DONE] (never a second HTTP response inside the body), its 429 is passed
on with Retry-After, its faults are 502s (not the client's 400s), and its output is cut at the
request's own max_tokens. The upstream is a test double on loopback (tests/misbehaving_upstream.py):
these are faults no real server produces on purpose."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import openai
import pytest

from misbehaving_upstream import MODEL, MisbehavingUpstream


@pytest.fixture(scope="module")
def upstream():
    with MisbehavingUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def gw(start_gateway, upstream, tmp_path_factory):
    config = Path(tmp_path_factory.mktemp("upstream-double")) / "gateway.yaml"
    config.write_text(
        f"engine: upstream\nupstream:\n  servers: [{upstream.url()}]\n  health_interval_s: 60\n"
        "embeddings:\n  enabled: false\n"
    )
    return start_gateway("--config", str(config))


def _chat(behaviour: str, **extra) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": behaviour}], **extra}


def _raw_stream(gw, body: dict) -> bytes:
    """The whole HTTP exchange as bytes (a second status line inside the body would show here)."""
    data = json.dumps(body).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    ).encode() + data
    with socket.create_connection(("127.0.0.1", gw.port), timeout=60) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_good_upstream_streams_through(gw):
    client = openai.OpenAI(base_url=gw.base_url, api_key="none", max_retries=0)
    answer = client.chat.completions.create(**_chat("good"))
    assert answer.choices[0].message.content == "one two three"
    assert answer.choices[0].finish_reason == "stop"


def test_a_malformed_chunk_mid_stream_ends_with_an_error_event_and_done(gw):
    answer = _raw_stream(gw, _chat("malformed-after-one", stream=True))
    assert answer.count(b"HTTP/1.1 ") == 1, answer.decode(errors="replace")  # one response, not two
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    events = [line[6:] for line in body.split(b"\n") if line.startswith(b"data: ")]
    assert b"Hello" in events[0] or b"Hello" in events[1]
    error = json.loads(events[-2])["error"]
    assert "malformed" in error["message"] and error["type"] == "server_error"
    assert events[-1] == b"[DONE]"


def test_an_upstream_429_is_passed_on_with_retry_after(gw):
    answer = httpx.post(gw.base_url + "/chat/completions", json=_chat("busy"), timeout=60)
    assert answer.status_code == 429, answer.text
    assert answer.headers["Retry-After"] == "7"
    assert answer.json()["error"]["code"] == "upstream_busy"


@pytest.mark.parametrize("behaviour", ["bad-logprob", "broken", "refused-key", "huge-event"])
def test_upstream_faults_are_502_not_the_clients_400(gw, behaviour):
    answer = httpx.post(gw.base_url + "/chat/completions", json=_chat(behaviour, logprobs=True), timeout=60)
    assert answer.status_code == 502, answer.text
    assert answer.json()["error"]["code"] == "upstream_error"


def test_output_is_bounded_by_the_requests_max_tokens(gw, upstream):
    client = openai.OpenAI(base_url=gw.base_url, api_key="none", max_retries=0)
    answer = client.chat.completions.create(**_chat("flood", max_tokens=16))
    choice = answer.choices[0]
    assert choice.finish_reason == "length"
    assert len(choice.message.content) <= 16 * 128
    assert answer.usage.completion_tokens <= 16
    # The gateway hung up instead of reading the rest (the flood stops at 200 MiB).
    assert upstream.flood_bytes < 64 * 1024 * 1024, upstream.flood_bytes

    chunks = list(client.chat.completions.create(**_chat("flood", max_tokens=16, stream=True)))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text) <= 16 * 128 and chunks[-1].choices[0].finish_reason == "length"
