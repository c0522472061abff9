"""The Responses API's added latency against chat completions: one gateway, one model, the same
load, side by side.

Each pair asks /v1/chat/completions and /v1/responses (both streamed) for the same thing: the
same conversation, greedy sampling with the same top_k/top_p, the same output limit; the engine
does identical work, so the difference is what each wire module adds (decoding the input items,
the event sequence with its sequence numbers, encoding per token). Requests alternate (A, B, A,
B, ...) to spread machine noise evenly; with --concurrency N, N pairs run at once. Reports the
time to the first text and to the end, p50 and p90 per path, the p50 difference (target: within
1 ms), and checks that both paths produced the same number of tokens.

    python bench/responses_vs_chat.py [--pairs 50] [--max-tokens 32] [--concurrency 1] [--url URL]

Without --url it starts its own gateway (the embedded default model).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
SYSTEM = "You are a storyteller."
PROMPT = "Write a short story about a lighthouse keeper and a storm."
SAMPLING = {"temperature": 0, "top_k": 40, "top_p": 0.9}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gateway() -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(f"/tmp/bench-responses-vs-chat-{port}.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        log.seek(0)
        if "ready." in log.read():
            return proc, f"http://127.0.0.1:{port}"
        if proc.poll() is not None:
            log.seek(0)
            raise SystemExit(log.read())
        time.sleep(0.2)
    raise SystemExit("gateway did not start")


async def chat_once(session: aiohttp.ClientSession, url: str, model: str, max_tokens: int) -> dict:
    body = {"model": model, "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
            "max_tokens": max_tokens, "stream": True, "stream_options": {"include_usage": True}, **SAMPLING}
    t0 = time.perf_counter()
    first, tokens = None, 0
    async with session.post(url + "/v1/chat/completions", json=body) as resp:
        assert resp.status == 200, await resp.text()
        async for raw in resp.content:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
            choices = event.get("choices") or []
            if first is None and choices and (choices[0].get("delta") or {}).get("content"):
                first = time.perf_counter()
    end = time.perf_counter()
    return {"ttft": (first or end) - t0, "total": end - t0, "tokens": tokens}


async def responses_once(session: aiohttp.ClientSession, url: str, model: str, max_tokens: int) -> dict:
    body = {"model": model, "instructions": SYSTEM, "input": PROMPT, "max_output_tokens": max_tokens,
            "stream": True, **SAMPLING}
    t0 = time.perf_counter()
    first, tokens = None, 0
    async with session.post(url + "/v1/responses", json=body) as resp:
        assert resp.status == 200, await resp.text()
        async for raw in resp.content:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            if first is None and '"response.output_text.delta"' in line:
                first = time.perf_counter()
            elif '"response.completed"' in line or '"response.incomplete"' in line:
                tokens = json.loads(line[6:])["response"]["usage"]["output_tokens"]
    end = time.perf_counter()
    return {"ttft": (first or end) - t0, "total": end - t0, "tokens": tokens}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


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
    paths = {"chat": chat_once, "responses": responses_once}
    results: dict[str, list[dict]] = {name: [] for name in paths}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
            async with session.get(url + "/v1/models") as resp:
                model = (await resp.json())["data"][0]["id"]
            for call in paths.values():  # warm up both paths (prompt cache, first-request costs)
                await call(session, url, model, args.max_tokens)

            async def pair(i: int) -> None:
                order = list(paths.items())
                for name, call in order if i % 2 == 0 else order[::-1]:
                    results[name].append(await call(session, url, model, args.max_tokens))

            done = 0
            while done < args.pairs:
                batch = min(args.concurrency, args.pairs - done)
                await asyncio.gather(*(pair(done + k) for k in range(batch)))
                done += batch
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(15)

    tokens = {name: sorted({r["tokens"] for r in rs}) for name, rs in results.items()}
    load = os.getloadavg()
    print(f"\n{args.pairs} pairs, max_tokens {args.max_tokens}, concurrency {args.concurrency}, "
          f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"completion tokens per request: chat {tokens['chat']}, responses {tokens['responses']}\n")
    print("| path | first text p50 (ms) | p90 | end p50 (ms) | p90 |")
    print("| --- | --- | --- | --- | --- |")
    for name in paths:
        ttft = [r["ttft"] * 1000 for r in results[name]]
        total = [r["total"] * 1000 for r in results[name]]
        print(f"| {name} | {statistics.median(ttft):.1f} | {pct(ttft, 0.9):.1f} | "
              f"{statistics.median(total):.1f} | {pct(total, 0.9):.1f} |")

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    print(f"\nresponses minus chat, p50: first text {(median('responses', 'ttft') - median('chat', 'ttft')) * 1000:+.2f} ms, "
          f"end {(median('responses', 'total') - median('chat', 'total')) * 1000:+.2f} ms (target: within 1 ms)")


if __name__ == "__main__":
    asyncio.run(main())
