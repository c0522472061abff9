"""A stream whose first token is late starts anyway: message_start and pings while it waits (an
agent drops a connection on which nothing arrives for minutes), and a failure after that is
Anthropic's `error` event. Here the wait is for the only slot, and the failure the queue's
timeout (429, rate_limit_error)."""
from __future__ import annotations

import json

import aiohttp
import pytest

MODEL = "SmolLM2-135M-Instruct.Q4_1"


@pytest.fixture(scope="module")
def one_slot_gateway(start_gateway):
    return start_gateway(env={"OSS_SIDECAR_ADMISSION__MAX_CONCURRENCY": "1",
                              "OSS_SIDECAR_ADMISSION__QUEUE_TIMEOUT_S": "4",
                              "OSS_SIDECAR_EMBEDDINGS__ENABLED": "false"})


async def test_a_waiting_stream_pings_and_ends_with_an_error_event(one_slot_gateway):
    url = one_slot_gateway.url
    busy = {"model": MODEL, "messages": [{"role": "user", "content": "Write a story."}], "max_tokens": 4000,
            "ignore_eos": True, "stream": True}
    waiting = {"model": MODEL, "max_tokens": 4, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        async with session.post(url + "/v1/chat/completions", json=busy) as holder:
            assert holder.status == 200
            await holder.content.readline()  # generating: it holds the only slot
            async with session.post(url + "/v1/messages", json=waiting) as resp:
                assert resp.status == 200
                body = (await resp.read()).decode()
            holder.close()  # aborts the long generation
    events = [block.split("\n") for block in body.strip().split("\n\n")]
    names = [lines[0].removeprefix("event: ") for lines in events]
    assert names[:2] == ["message_start", "ping"] and names[-1] == "error", names
    assert set(names[1:-1]) == {"ping"}
    error = json.loads(events[-1][1].removeprefix("data: "))
    assert error["type"] == "error" and error["error"]["type"] == "rate_limit_error"
