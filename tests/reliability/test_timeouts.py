"""Connections and slots are never held forever: header read, idle keep-alive and stalled
write limits, each a setting (small here so the test is quick). The whole-request limit is in
test_request_limit.py."""
from __future__ import annotations

import socket

import pytest

from raw_http import closed_by_server, stalled_reader, wait_for

LIMITS = {
    "OSS_SIDECAR_SERVER__HEADER_TIMEOUT_S": "1",
    "OSS_SIDECAR_SERVER__KEEPALIVE_TIMEOUT_S": "2",
    "OSS_SIDECAR_SERVER__WRITE_TIMEOUT_S": "2",
}


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


def test_idle_keepalive_connection_is_closed(gw):
    sock = socket.create_connection(("127.0.0.1", gw.port))
    sock.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\n\r\n".encode())
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    assert closed_by_server(sock, 60), "an idle keep-alive connection stayed open"  # the limit: 2 s
    sock.close()


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
