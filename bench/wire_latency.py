"""What the "wire A against chat completions" latency benchmarks share: starting a gateway, timing
one streamed request, alternating the two paths in pairs, and printing the table.

Each pair asks both paths for the same thing (greedy sampling with the same top_k/top_p, the
same output limit), so the engine does identical work and the difference is what each wire
module adds. Requests alternate (A, B, then B, A) to spread machine noise evenly; with
--concurrency N, N pairs run at once. Reports the time to the first text and to the end, p50 and
p90 per path, the p50 difference (target: within 1 ms), and the token counts per path, which
should be the same.

A script names two wires (what each sends and how it reads the first text and the token count
from its stream) and calls `main`; see bench/ollama_vs_openai.py and its siblings.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = [{"role": "user", "content": "Write a short story about a lighthouse keeper and a storm."}]
# Greedy with the same top_k/top_p on every path, so the engine does identical work.
SAMPLING = {"temperature": 0, "top_k": 40, "top_p": 0.9}


@dataclass(frozen=True)
class Wire:
    """One path through the gateway: `name` keys the results and the table, `label` is the prose
    name; `body(model, max_tokens)` is the streamed request; `read(raw_line)` says whether the line
    carries text and, where it says so, the answer's token count (None otherwise)."""
    name: str
    label: str
    path: str
    body: Callable[[str, int], dict]
    read: Callable[[bytes], tuple[bool, int | None]]
    headers: dict = field(default_factory=dict)


def read_chat_chunk(raw: bytes) -> tuple[bool, int | None]:
    line = raw.decode().strip()
    if not line.startswith("data: ") or line == "data: [DONE]":
        return False, None
    event = json.loads(line[6:])
    tokens = event["usage"]["completion_tokens"] if event.get("usage") else None
    choices = event.get("choices") or []
    return bool(choices and (choices[0].get("delta") or {}).get("content")), tokens


def chat_wire(messages: list[dict], name: str = "openai", label: str = "OpenAI") -> Wire:
    """/v1/chat/completions streamed, with the usage chunk for the token count."""
    return Wire(name, label, "/v1/chat/completions",
                lambda model, max_tokens: {"model": model, "messages": messages, "max_tokens": max_tokens,
                                           **SAMPLING, "stream": True, "stream_options": {"include_usage": True}},
                read_chat_chunk)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gateway(log_name: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(f"/tmp/{log_name}-{port}.log", "w+")
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


async def once(session: aiohttp.ClientSession, url: str, wire: Wire, model: str, max_tokens: int) -> dict:
    t0 = time.perf_counter()
    first, tokens = None, 0
    async with session.post(url + wire.path, json=wire.body(model, max_tokens), headers=wire.headers) as resp:
        assert resp.status == 200, await resp.text()
        async for raw in resp.content:
            text, seen = wire.read(raw)
            if seen is not None:
                tokens = seen
            if first is None and text:
                first = time.perf_counter()
    end = time.perf_counter()
    return {"ttft": (first or end) - t0, "total": end - t0, "tokens": tokens}


async def run_pairs(url: str, wires: tuple[Wire, Wire], pairs: int, max_tokens: int,
                    concurrency: int) -> dict[str, list[dict]]:
    """`pairs` pairs, A then B on even pairs and B then A on odd ones, `concurrency` pairs at once."""
    results: dict[str, list[dict]] = {wire.name: [] for wire in wires}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        async with session.get(url + "/v1/models") as resp:
            model = (await resp.json())["data"][0]["id"]
        for wire in wires:  # warm up both paths (prompt cache, first-request costs)
            await once(session, url, wire, model, max_tokens)

        async def pair(i: int) -> None:
            for wire in wires if i % 2 == 0 else wires[::-1]:
                results[wire.name].append(await once(session, url, wire, model, max_tokens))

        done = 0
        while done < pairs:
            batch = min(concurrency, pairs - done)
            await asyncio.gather(*(pair(done + k) for k in range(batch)))
            done += batch
    return results


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def report(results: dict[str, list[dict]], wires: tuple[Wire, Wire], args: argparse.Namespace) -> None:
    base, other = wires
    tokens = {name: sorted({r["tokens"] for r in rs}) for name, rs in results.items()}
    load = os.getloadavg()
    print(f"\n{args.pairs} pairs, max_tokens {args.max_tokens}, concurrency {args.concurrency}, "
          f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"completion tokens per request: {base.label} {tokens[base.name]}, {other.label} {tokens[other.name]}\n")
    print("| path | first text p50 (ms) | p90 | end p50 (ms) | p90 |")
    print("| --- | --- | --- | --- | --- |")
    for wire in wires:
        ttft = [r["ttft"] * 1000 for r in results[wire.name]]
        total = [r["total"] * 1000 for r in results[wire.name]]
        print(f"| {wire.name} | {statistics.median(ttft):.1f} | {pct(ttft, 0.9):.1f} | "
              f"{statistics.median(total):.1f} | {pct(total, 0.9):.1f} |")

    def p50(wire: Wire, key: str) -> float:
        return statistics.median(r[key] for r in results[wire.name])

    print(f"\n{other.label} minus {base.label}, p50: first text {(p50(other, 'ttft') - p50(base, 'ttft')) * 1000:+.2f} ms, "
          f"end {(p50(other, 'total') - p50(base, 'total')) * 1000:+.2f} ms (target: within 1 ms)")


def main(doc: str, wires: tuple[Wire, Wire], log_name: str) -> None:
    """The command line every such script shares: its docstring is the help."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--url", help="a running gateway; default: start one")
    args = parser.parse_args()

    proc = None
    url = args.url
    if url is None:
        proc, url = start_gateway(log_name)
    try:
        results = asyncio.run(run_pairs(url, wires, args.pairs, args.max_tokens, args.concurrency))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(15)
    report(results, wires, args)
