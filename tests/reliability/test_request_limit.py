"""The whole-request limit (server.request_timeout_s): a stream past it ends with an error
event and [DONE], any other request gets 504; either way its slots are freed."""
from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest
from openai import OpenAI

from raw_http import wait_for

LONG = {"messages": [{"role": "user", "content": "Tell a long story."}], "max_tokens": 4000, "ignore_eos": True}


@pytest.fixture(scope="module")
def gw(start_gateway):
    return start_gateway(env={"OSS_SIDECAR_SERVER__REQUEST_TIMEOUT_S": "10"})


def _idle(gw) -> bool:
    requests = gw.stats()["requests"]
    return requests["running"] == 0 and requests["waiting"] == 0 and requests.get("held_slots") == 0


def test_requests_past_the_limit_are_ended_with_an_error(gw):
    client = OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0, timeout=60)
    outcome = {}

    def plain() -> None:  # runs beside the stream, same limit
        try:
            client.chat.completions.create(model=client.models.list().data[0].id, **{
                k: v for k, v in LONG.items() if k != "ignore_eos"}, extra_body={"ignore_eos": True})
        except openai.APIStatusError as exc:
            outcome["status"], outcome["body"] = exc.status_code, exc.body

    # Warm llama.cpp's prompt cache so the stream starts well inside the limit on a busy machine.
    httpx.post(gw.base_url + "/chat/completions", json={**LONG, "max_tokens": 1}, timeout=60)
    thread = threading.Thread(target=plain)
    started = time.monotonic()
    events = []
    with httpx.stream("POST", gw.base_url + "/chat/completions", json={**LONG, "stream": True}, timeout=60) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
                if len(events) == 1:
                    thread.start()
    elapsed = time.monotonic() - started
    thread.join(60)
    assert elapsed >= 9.5, elapsed  # not ended before the limit (10 s); the error event says why it ended
    assert events[-1] == "[DONE]"
    assert '"request_timeout"' in events[-2] and "server.request_timeout_s" in events[-2]
    assert outcome.get("status") == 504 and outcome["body"]["code"] == "request_timeout", outcome
    assert wait_for(lambda: _idle(gw), 10), gw.stats()["requests"]
    assert gw.stats()["gateway_counters"]["requests_ended_total"] == 2
