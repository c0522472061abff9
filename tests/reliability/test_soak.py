"""A bounded soak on loopback: 16 concurrent clients for OSS_SIDECAR_TEST_SOAK_S seconds
(default 30, 60 for the full minute; the first third is warm-up) mixing whole streams, streams cut at random, readers
that stop reading, and fan-outs over the sequence limit. Afterwards nothing is held (running,
waiting and held slots 0, in the gateway and the engine), no answer was a 5xx, and the
process's RSS is within 10 % of its post-warm-up value: llama.cpp's prompt cache is bounded
(llamacpp.cache_ram_mib, small here so warm-up fills it)."""
from __future__ import annotations

import asyncio
import os
import random
import socket

import aiohttp
import psutil
import pytest

from raw_http import post_bytes, wait_for

SOAK_S = float(os.environ.get("OSS_SIDECAR_TEST_SOAK_S", "30"))
CLIENTS = 16
WORDS = ("river stone lamp orbit cedar violin harbor pixel maple comet lantern quartz meadow "
         "falcon ember tundra saffron beacon walnut glacier").split()


@pytest.fixture(scope="module")
def gw(start_gateway):
    return start_gateway(env={
        "OSS_SIDECAR_LLAMACPP__CACHE_RAM_MIB": "32",
        "OSS_SIDECAR_SERVER__WRITE_TIMEOUT_S": "2",
        "OSS_SIDECAR_ADMISSION__QUEUE_TIMEOUT_S": "20",
    })


def _prompt(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60)))


class Soak:
    def __init__(self, gw):
        self.gw = gw
        self.statuses: list[int] = []
        self.error_events = 0

    def _chat(self, rng: random.Random, **extra) -> dict:
        return {"messages": [{"role": "user", "content": _prompt(rng)}], "max_tokens": rng.randint(4, 24),
                "stream": True, **extra}

    async def whole(self, session, rng):
        async with session.post(self.gw.url + "/v1/chat/completions", json=self._chat(rng)) as answer:
            self.statuses.append(answer.status)  # 429 is a fair answer on a busy machine
            async for line in answer.content:
                if line.startswith(b"data: {\"error\""):
                    self.error_events += 1

    async def cut(self, session, rng):
        body = self._chat(rng, max_tokens=200, ignore_eos=True, n=rng.choice([1, 2, 4]))
        async with session.post(self.gw.url + "/v1/chat/completions", json=body) as answer:
            self.statuses.append(answer.status)
            keep = rng.randint(1, 12)
            async for _ in answer.content:
                keep -= 1
                if keep <= 0:
                    break  # leaving the block closes the connection mid-stream

    async def stalled(self, session, rng):
        body = self._chat(rng, max_tokens=300, ignore_eos=True, n=2)
        reader, writer = await asyncio.open_connection("127.0.0.1", self.gw.port, limit=1024)
        writer.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        writer.write(post_bytes(self.gw.port, "/v1/chat/completions", body))
        status = await reader.readline()
        self.statuses.append(int(status.split()[1]))
        await asyncio.sleep(rng.uniform(1, 5))  # reads nothing more
        writer.close()

    async def oversized(self, session, rng):
        body = {"prompt": [_prompt(rng) for _ in range(rng.randint(5, 8))], "n": 16, "stream": True, "max_tokens": 4}
        async with session.post(self.gw.url + "/v1/completions", json=body) as answer:
            assert answer.status == 400 and (await answer.json())["error"]["param"] == "n"
            self.statuses.append(answer.status)

    async def client(self, seed: int, until: float):
        rng = random.Random(seed)
        actions = [self.whole, self.whole, self.cut, self.stalled, self.oversized]
        timeout = aiohttp.ClientTimeout(total=180)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while asyncio.get_running_loop().time() < until:
                await rng.choice(actions)(session, rng)


async def test_soak_leaves_nothing_held_and_memory_flat(gw):
    soak = Soak(gw)
    loop = asyncio.get_running_loop()
    start = loop.time()
    process = psutil.Process(gw.process.pid)
    clients = [asyncio.create_task(soak.client(i, start + SOAK_S)) for i in range(CLIENTS)]
    await asyncio.sleep(SOAK_S / 3)
    warm_rss = process.memory_info().rss
    await asyncio.gather(*clients)

    def idle() -> bool:
        stats = gw.stats()
        r = stats["requests"]
        return (r["running"], r["waiting"], r["held_slots"], stats["engine_requests"]["running"]) == (0, 0, 0, 0)

    assert await asyncio.to_thread(wait_for, idle, 60), gw.stats()["requests"]
    final_rss = process.memory_info().rss
    assert not [s for s in soak.statuses if s >= 500], soak.statuses
    assert soak.error_events == 0
    assert len(soak.statuses) >= CLIENTS
    print(f"soak: {len(soak.statuses)} requests in {SOAK_S:g} s; RSS {warm_rss / 2**20:.0f} MiB after warm-up, "
          f"{final_rss / 2**20:.0f} MiB at the end")
    assert final_rss <= warm_rss * 1.10, (warm_rss, final_rss)
