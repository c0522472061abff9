"""Disconnect aborts the generation in the engine; overload is answered with 429, never hung."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import openai
import pytest

MODEL = "SmolLM2-135M-Instruct.Q4_1"


async def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def test_client_disconnect_aborts_in_engine(gateway):
    before = gateway.stats()
    # llama.cpp's own count of decode steps: one per generated token (plus the prompt's batches),
    # counted for aborted requests too (its tokens_predicted_total only counts finished ones).
    decodes_before = before["engine_counters"]["n_decode_total"]
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key="x", max_retries=0)
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Count from one to one thousand."}],
        max_tokens=2000,
        stream=True,
        extra_body={"ignore_eos": True},
    )
    received = 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received += 1
            if received == 3:
                break
    await stream.close()  # the client goes away mid-stream

    aborted_before = before["engine_counters"]["requests_aborted_total"]

    def engine_released():
        s = gateway.stats()
        counters = s["engine_counters"]
        done = counters["requests_processing"] == 0 and counters["requests_aborted_total"] >= aborted_before + 1
        return s if done else None

    stats = await _wait_for(engine_released)
    decodes = stats["engine_counters"]["n_decode_total"] - decodes_before
    # The engine's own counters: the slot was freed and it stopped a few tokens after the
    # client left, far from the 2000 asked for.
    assert received <= decodes < 60, decodes
    gateway_counters = stats["gateway_counters"]
    assert gateway_counters["requests_aborted_total"] == before["gateway_counters"]["requests_aborted_total"] + 1
    assert gateway_counters["completion_tokens_total"] >= before["gateway_counters"]["completion_tokens_total"] + received
    await asyncio.sleep(1.0)
    later = gateway.stats()["engine_counters"]["n_decode_total"] - decodes_before
    assert later == decodes, "the engine kept generating after the abort"


async def test_overload_gets_429_with_retry_after(start_gateway):
    gw = start_gateway("--max-concurrency", "1", "--max-queue", "1")
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Write a long poem."}],
        "max_tokens": 300,
        "stream": True,
        "ignore_eos": True,
    }
    async with aiohttp.ClientSession() as session:
        running = await session.post(gw.base_url + "/chat/completions", json=body)
        assert running.status == 200
        await running.content.readline()  # generating now
        queued = asyncio.create_task(session.post(gw.base_url + "/chat/completions", json=body))
        await _wait_for(lambda: gw.stats()["requests"]["waiting"] == 1)
        client = openai.AsyncOpenAI(base_url=gw.base_url, api_key="x", max_retries=0)
        with pytest.raises(openai.RateLimitError) as info:
            await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2)
        assert info.value.response.headers["Retry-After"] == "1"
        assert info.value.body["type"] == "rate_limit_error"
        assert gw.stats()["requests"] == {"running": 1, "waiting": 1, "held_slots": 1, "concurrency_limit": 1, "queue_limit": 1}
        running.close()
        queued_response = await queued  # the queued one is served once the slot frees
        assert queued_response.status == 200
        queued_response.close()
    await _wait_for(lambda: gw.stats()["requests"]["running"] == 0)
