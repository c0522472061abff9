"""The Messages API path's added latency against the OpenAI path: one gateway, one model, the same
load, side by side.

Each request asks both wire formats for the same thing (the same chat, greedy sampling with the
same top_k/top_p, the same output limit), so the engine does identical work and the difference is
what each wire module adds (decoding, Anthropic's content-block events vs chat chunks). Requests
alternate between the two paths (A, B, A, B, ...) to spread machine noise evenly; with
--concurrency N, N pairs run at once. Reports the time to the first text and to the end, p50 and
p90 per path, the p50 difference (target: under 1 ms), and checks that both paths produced the
same number of tokens.

    python bench/messages_vs_openai.py [--pairs 50] [--max-tokens 32] [--concurrency 1] [--url URL]

Without --url it starts its own gateway (the embedded default model). Run it on a quiet machine:
the difference being measured is far smaller than the noise of a busy one.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ollama_vs_openai import MESSAGES, openai_once, pct, start_gateway  # noqa: E402


async def messages_once(session: aiohttp.ClientSession, url: str, model: str, max_tokens: int) -> dict:
    body = {"model": model, "messages": MESSAGES, "max_tokens": max_tokens, "temperature": 0, "top_k": 40,
            "top_p": 0.9, "stream": True}
    t0 = time.perf_counter()
    first = None
    tokens = 0
    async with session.post(url + "/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}) as resp:
        assert resp.status == 200, await resp.text()
        async for raw in resp.content:
            if not raw.startswith(b"data: "):
                continue
            event = json.loads(raw[6:])
            if event["type"] == "message_delta":
                tokens = event["usage"]["output_tokens"]
            elif first is None and event["type"] == "content_block_delta" and event["delta"].get("text"):
                first = time.perf_counter()
    end = time.perf_counter()
    return {"ttft": (first or end) - t0, "total": end - t0, "tokens": tokens}


async def run_pairs(url: str, pairs: int, max_tokens: int, concurrency: int) -> dict[str, list[dict]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        async with session.get(url + "/v1/models") as resp:
            model = (await resp.json())["data"][0]["id"]
        # Warm up both paths (prompt cache, first-request costs).
        await openai_once(session, url, model, max_tokens)
        await messages_once(session, url, model, max_tokens)
        results: dict[str, list[dict]] = {"openai": [], "messages": []}

        async def pair(i: int) -> None:
            order = [("openai", openai_once), ("messages", messages_once)]
            for name, call in order if i % 2 == 0 else order[::-1]:
                results[name].append(await call(session, url, model, max_tokens))

        done = 0
        while done < pairs:
            batch = min(concurrency, pairs - done)
            await asyncio.gather(*(pair(done + k) for k in range(batch)))
            done += batch
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--url", help="a running gateway; default: start one")
    args = parser.parse_args()

    proc = None
    url = args.url
    if url is None:
        proc, url = start_gateway()
    try:
        results = await run_pairs(url, args.pairs, args.max_tokens, args.concurrency)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(15)

    tokens = {name: sorted({r["tokens"] for r in rs}) for name, rs in results.items()}
    load = os.getloadavg()
    print(f"\n{args.pairs} pairs, max_tokens {args.max_tokens}, concurrency {args.concurrency}, "
          f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"completion tokens per request: OpenAI {tokens['openai']}, Messages {tokens['messages']}\n")
    print("| path | first text p50 (ms) | p90 | end p50 (ms) | p90 |")
    print("| --- | --- | --- | --- | --- |")
    for name in ("openai", "messages"):
        ttft = [r["ttft"] * 1000 for r in results[name]]
        total = [r["total"] * 1000 for r in results[name]]
        print(f"| {name} | {statistics.median(ttft):.1f} | {pct(ttft, 0.9):.1f} | "
              f"{statistics.median(total):.1f} | {pct(total, 0.9):.1f} |")

    def p50(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    print(f"\nMessages minus OpenAI, p50: first text {(p50('messages', 'ttft') - p50('openai', 'ttft')) * 1000:+.2f} ms, "
          f"end {(p50('messages', 'total') - p50('openai', 'total')) * 1000:+.2f} ms (target: within 1 ms)")


if __name__ == "__main__":
    asyncio.run(main())
