"""Shutdown and restart: SIGTERM drains (stops accepting, lets streams finish for
server.shutdown_grace_s, ends the rest with an error event and [DONE], exits 0); a second
signal exits at once; after SIGKILL the server restarts on the same port."""
from __future__ import annotations

import signal
import socket
import threading
import time

import httpx

LONG = {"messages": [{"role": "user", "content": "Tell a long story."}], "max_tokens": 4000,
        "ignore_eos": True, "stream": True}


class Stream(threading.Thread):
    """One streamed chat in the background, its events collected."""

    def __init__(self, url: str, body: dict):
        super().__init__(daemon=True)
        self.url, self.body = url, body
        self.events: list[str] = []
        self.started = threading.Event()

    def run(self) -> None:
        try:
            with httpx.stream("POST", self.url + "/v1/chat/completions", json=self.body, timeout=120) as answer:
                for line in answer.iter_lines():
                    if line.startswith("data: "):
                        self.events.append(line[6:])
                        self.started.set()
        except httpx.HTTPError as exc:
            self.events.append(f"transport error: {exc!r}")
        self.started.set()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except OSError:
        return True


def test_sigterm_drains_then_ends_streams_with_error_and_done(start_gateway):
    gw = start_gateway(env={"OSS_SIDECAR_SERVER__SHUTDOWN_GRACE_S": "6"})
    httpx.post(gw.base_url + "/chat/completions", json={**LONG, "stream": False, "max_tokens": 1}, timeout=60)
    long = Stream(gw.url, LONG)
    long.start()
    assert long.started.wait(60)
    short = Stream(gw.url, {**LONG, "max_tokens": 2})
    short.start()
    assert short.started.wait(60)
    gw.process.send_signal(signal.SIGTERM)
    while not _refused(gw.port) and gw.process.poll() is None:
        time.sleep(0.05)
    assert gw.process.poll() is None, "kept accepting connections after SIGTERM until it exited"
    assert gw.process.wait(30) == 0
    long.join(10)
    short.join(10)
    assert short.events[-1] == "[DONE]" and '"error"' not in "".join(short.events)
    assert long.events[-1] == "[DONE]", long.events[-3:]
    assert '"shutting_down"' in long.events[-2]


def test_second_signal_exits_at_once(start_gateway):
    gw = start_gateway(env={"OSS_SIDECAR_SERVER__SHUTDOWN_GRACE_S": "60"})
    long = Stream(gw.url, LONG)
    long.start()
    assert long.started.wait(60)
    gw.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert gw.process.poll() is None  # draining: the stream may still finish
    gw.process.send_signal(signal.SIGINT)
    # At once: not after draining (that exits 0, here at the earliest in 60 s) but 128 + the signal.
    assert gw.process.wait(50) == 128 + signal.SIGINT


def test_restart_after_sigkill_on_the_same_port(start_gateway):
    gw = start_gateway()
    port = gw.port
    long = Stream(gw.url, LONG)
    long.start()
    assert long.started.wait(60)
    gw.process.send_signal(signal.SIGKILL)
    gw.process.wait(10)
    again = start_gateway("--port", str(port))
    answer = httpx.post(again.base_url + "/chat/completions",
                        json={**LONG, "stream": False, "max_tokens": 2, "ignore_eos": False}, timeout=60)
    assert answer.status_code == 200, answer.text
    requests = again.stats()["requests"]
    assert requests["running"] == 0 and requests["held_slots"] == 0
