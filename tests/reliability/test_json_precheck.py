"""The JSON depth pre-check is linear on every POST route: an unterminated string full of `\\"`
escapes (once rescanned from each of its quotes: 64 KB took 26 s of the event loop, 1 MiB
would take hours) is a 400 while another client's stream goes on."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest

MODEL = "SmolLM2-135M-Instruct.Q4_1"
ROUTES = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/api/chat", "/api/generate",
          "/api/embed", "/api/embeddings", "/api/show"]
ESCAPES = b'{"model": "' + MODEL.encode() + b'", "prompt": "' + b'\\"' * (512 * 1024)  # 1 MiB, never closed


def _message(body: dict) -> str:
    error = body["error"]
    return error["message"] if isinstance(error, dict) else error


@pytest.mark.parametrize("route", ROUTES)
async def test_an_unterminated_escape_string_is_400(gateway, route):
    async with aiohttp.ClientSession() as session:
        async with session.post(gateway.url + route, data=ESCAPES,
                                headers={"Content-Type": "application/json"}) as answer:
            assert answer.status == 400
            assert "not valid JSON" in _message(await answer.json())


async def test_another_clients_stream_and_health_go_on_meanwhile(gateway):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Count to ten."}], "max_tokens": 24,
            "ignore_eos": True, "stream": True}
    async with aiohttp.ClientSession() as session:
        async def stream() -> list[bytes]:
            async with session.post(gateway.url + "/v1/chat/completions", json=body) as resp:
                assert resp.status == 200
                return [line async for line in resp.content if line.startswith(b"data: ")]

        async def hostile() -> int:
            statuses = []
            for _ in range(4):
                async with session.post(gateway.url + "/v1/chat/completions", data=ESCAPES,
                                        headers={"Content-Type": "application/json"}) as answer:
                    statuses.append(answer.status)
                async with session.get(gateway.url + "/health") as health:
                    statuses.append(health.status)
            return statuses

        lines, statuses = await asyncio.gather(stream(), hostile())
    assert statuses == [400, 200] * 4
    assert lines[-1] == b"data: [DONE]\n"
    assert len(lines) > 24  # every token's chunk came, then [DONE]
