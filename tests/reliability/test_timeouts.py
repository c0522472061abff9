"""Connections and slots are never held forever: header read, body read, idle keep-alive and
stalled write limits, each a setting (small here so the test is quick). The whole-request limit
is in test_request_limit.py."""
from __future__ import annotations

import socket
import time

import pytest

from raw_http import closed_by_server, post_bytes, stalled_reader, wait_for

LIMITS = {
    "OSS_SIDECAR_SERVER__HEADER_TIMEOUT_S": "1",
    "OSS_SIDECAR_SERVER__KEEPALIVE_TIMEOUT_S": "2",
    "OSS_SIDECAR_SERVER__WRITE_TIMEOUT_S": "2",
    "OSS_SIDECAR_SERVER__BODY_TIMEOUT_S": "2",
}
# Far beyond every limit above, far below server.request_timeout_s (600 s): an answer within it
# proves the connection was not held for the whole request.
BOUND_S = 60


@pytest.fixture(scope="module")
def gw(start_gateway):
    return start_gateway(env=LIMITS)


def _idle(gw) -> bool:
    stats = gw.stats()
    requests = stats["requests"]
    return requests["running"] == 0 and requests["waiting"] == 0 and requests.get("held_slots") == 0 and (
        stats["engine_requests"]["running"] == 0
    )


def test_slowloris_headers_are_cut_off(gw):
    sock = socket.create_connection(("127.0.0.1", gw.port))
    sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    closed = False
    for i in range(150):  # a header line every 0.4 s for a minute (the limit is 1 s): never finishing
        try:
            sock.sendall(f"X-Slow-{i}: y\r\n".encode())
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        if closed_by_server(sock, 0.4):
            closed = True
            break
    assert closed, "a client trickling headers kept its connection"
    sock.close()


def _head(port: int, length: str = "", chunked: bool = False) -> bytes:
    framing = "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {length}\r\n"
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"{framing}\r\n"
    ).encode()


def _answer_and_close(sock: socket.socket, trickle: bytes = b"", every_s: float = 0.5) -> tuple[bytes, float]:
    """Reads the server's answer (sending `trickle` a byte at a time meanwhile) until it closes
    the connection; returns the answer and the seconds it took."""
    started = time.monotonic()
    sock.settimeout(every_s)
    answer = b""
    while time.monotonic() - started < BOUND_S:
        if trickle:
            try:
                sock.sendall(trickle[:1])
            except (BrokenPipeError, ConnectionResetError):
                trickle = b""
            trickle = trickle[1:]
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionError:
            break
        if not data:
            break
        answer += data
    return answer, time.monotonic() - started


@pytest.mark.parametrize(
    "case",
    ["one byte every half second", "Content-Length with no body", "chunked body without its end"],
)
def test_slow_or_missing_bodies_get_408(gw, case):
    body = b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}'
    sock = socket.create_connection(("127.0.0.1", gw.port))
    try:
        if case == "one byte every half second":
            sock.sendall(_head(gw.port, str(len(body))))
            answer, took = _answer_and_close(sock, trickle=body)  # 60 bytes: 30 s at this pace
        elif case == "Content-Length with no body":
            sock.sendall(_head(gw.port, "100"))
            answer, took = _answer_and_close(sock)
        else:
            sock.sendall(_head(gw.port, chunked=True) + b"a\r\n" + body[:10] + b"\r\n")
            answer, took = _answer_and_close(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), (case, answer[:300])
    assert b'"code": "body_timeout"' in answer and b"server.body_timeout_s" in answer
    assert took < BOUND_S, f"{case}: the connection was held {took:.0f} s"


def test_oversized_content_length_is_413_before_the_body(gw):
    sock = socket.create_connection(("127.0.0.1", gw.port))
    try:
        sock.sendall(_head(gw.port, str(10**12)))  # and not a byte of the body
        answer, took = _answer_and_close(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"server.max_body_bytes" in answer
    assert took < BOUND_S


def test_idle_keepalive_connection_is_closed(gw):
    sock = socket.create_connection(("127.0.0.1", gw.port))
    sock.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\n\r\n".encode())
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    assert closed_by_server(sock, 60), "an idle keep-alive connection stayed open"  # the limit: 2 s
    sock.close()


def test_stalled_ollama_reader_loses_its_stream(gw):
    """Ollama's NDJSON stream has the same write limit as the OpenAI one."""
    before = gw.stats()["gateway_counters"].get("streams_stalled_total", 0)
    # A raw count at temperature 0: the model goes on counting (a chat answer may end early).
    body = {"model": "SmolLM2-135M-Instruct.Q4_1", "stream": True, "raw": True,
            "prompt": "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,", "options": {"num_predict": 4000, "temperature": 0}}
    sock = stalled_reader(gw.port, "/api/generate", body)
    try:
        assert wait_for(lambda: gw.stats()["requests"].get("held_slots") == 1, 30), "the request never ran"
        assert wait_for(lambda: _idle(gw), BOUND_S), f"slots still held by a reader that stopped: {gw.stats()['requests']}"
    finally:
        sock.close()
    assert gw.stats()["gateway_counters"]["streams_stalled_total"] == before + 1


def test_stalled_reader_loses_its_stream_and_frees_its_slots(gw):
    before = gw.stats()
    body = {
        "messages": [{"role": "user", "content": "Tell a long story."}],
        "max_tokens": 4000,
        "ignore_eos": True,
        "n": 4,
        "stream": True,
    }
    sock = stalled_reader(gw.port, "/v1/chat/completions", body)
    try:
        assert wait_for(lambda: gw.stats()["requests"].get("held_slots") == 4, 30), "the fan-out never held 4 slots"
        assert wait_for(lambda: _idle(gw), 120), f"slots still held by a reader that stopped: {gw.stats()['requests']}"
    finally:
        sock.close()
    after = gw.stats()
    assert after["gateway_counters"]["streams_stalled_total"] == before["gateway_counters"].get("streams_stalled_total", 0) + 1
    # llama.cpp counts the abort when its next token callback sees the stop flag.
    aborted = before["engine_counters"]["requests_aborted_total"]
    assert wait_for(lambda: gw.stats()["engine_counters"]["requests_aborted_total"] > aborted, 10)


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Tell a long story."}],
                                  "max_tokens": 8000, "ignore_eos": True, "n": 4, "stream": True}),
    ],
)
def test_a_reader_that_stops_with_a_grown_buffer_loses_its_stream(gw, path, body):
    """Reading for a while lets the kernel grow the client's receive buffer (to megabytes:
    minutes of tokens, and Linux grows it even while nothing is read); a reader that then stops
    must still lose its slots within the write timeout, not when that buffer is full."""
    before = gw.stats()["gateway_counters"].get("streams_stalled_total", 0)
    sock = socket.create_connection(("127.0.0.1", gw.port))  # the system's own buffer sizes
    try:
        sock.sendall(post_bytes(gw.port, path, body))
        sock.settimeout(0.5)
        read_until = time.monotonic() + 5
        while time.monotonic() < read_until:  # a reader for 5 s ...
            try:
                sock.recv(1 << 20)
            except socket.timeout:
                pass
        # ... that stops, while thousands of tokens remain (minutes of generation).
        assert wait_for(lambda: _idle(gw), BOUND_S), f"slots still held by a reader that stopped: {gw.stats()['requests']}"
    finally:
        sock.close()
    assert gw.stats()["gateway_counters"]["streams_stalled_total"] == before + 1
