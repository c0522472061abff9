"""Another client's stream while hostile bodies arrive: chunk gaps with and without them.

One client streams a chat completion (`ignore_eos`, --max-tokens tokens) and records when each
chunk arrives. In the `quiet` rounds nothing else happens; in the `hostile` rounds a second
client sends, one after another until the stream ends, the two bodies that once froze the
server: a chat request whose `response_format` is an enum of --enum values (llama.cpp's chat
parser built its grammar in the loop that serves every slot: 31 s at 4,000 values), and a body
of --escape-kib KiB whose string of `\\"` escapes never ends (the depth pre-check rescanned it
from every quote: 26 s of the event loop at 64 KB). Rounds alternate quiet/hostile; figures are
median (min–max) over rounds, and the target is a hostile p99 gap within 2x of the quiet one.

    python bench/hostile_bodies.py [--gateway 'new:'] [--gateway 'base:root=/tmp/base'] \\
        [--rounds 5] [--max-tokens 128] [--enum 4000] [--escape-kib 64]

A gateway spec is gateway_vs_llamacpp.py's `NAME:KEY=VALUE,...` (`root=DIR` runs another
checkout, other keys are environment variables). The other processes busy beside the run are
printed with the table (Beside), since on a shared machine they move every figure.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_vs_llamacpp import Beside, parse_gateway_spec, rotated, spread, start_gateway  # noqa: E402

PROMPT = [{"role": "user", "content": "Write a short story about a lighthouse keeper and a storm."}]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def stream_gaps(session: aiohttp.ClientSession, url: str, max_tokens: int) -> list[float]:
    """Seconds between consecutive chunks of one stream (the first chunk's wait excluded)."""
    body = {"messages": PROMPT, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True, "stream": True}
    arrivals = []
    async with session.post(url + "/v1/chat/completions", json=body) as resp:
        resp.raise_for_status()
        async for line in resp.content:
            if line.startswith(b"data: {"):
                arrivals.append(time.perf_counter())
    return [b - a for a, b in zip(arrivals, arrivals[1:])]


def hostile_bodies(enum_values: int, escape_kib: int) -> list[bytes]:
    import json

    schema = {"type": "object", "properties": {"x": {"enum": [f"v{i}" for i in range(enum_values)]}}, "required": ["x"]}
    enum = json.dumps({"messages": [{"role": "user", "content": "Pick one."}], "max_tokens": 8,
                       "response_format": {"type": "json_schema", "json_schema": {"name": "pick", "schema": schema}}})
    escapes = b'{"messages": "' + b'\\"' * (escape_kib * 512)
    return [enum.encode(), escapes]


async def send_hostile(session: aiohttp.ClientSession, url: str, bodies: list[bytes], stop: asyncio.Event,
                       answers: list[tuple[int, float]]) -> None:
    """Each body in turn until `stop`; (status, seconds) of every answer."""
    i = 0
    while not stop.is_set():
        started = time.perf_counter()
        async with session.post(url + "/v1/chat/completions", data=bodies[i % len(bodies)],
                                headers={"Content-Type": "application/json"}) as resp:
            await resp.read()
            answers.append((resp.status, time.perf_counter() - started))
        i += 1


async def one_round(session, url: str, args, hostile: bool) -> dict:
    answers: list[tuple[int, float]] = []
    stop = asyncio.Event()
    sender = None
    if hostile:
        sender = asyncio.create_task(send_hostile(session, url, hostile_bodies(args.enum, args.escape_kib), stop, answers))
        await asyncio.sleep(0)  # the first hostile body goes out before the stream
    gaps = await stream_gaps(session, url, args.max_tokens)
    stop.set()
    if sender is not None:
        await sender
    return {"p50": percentile(gaps, 0.5), "p99": percentile(gaps, 0.99), "max": max(gaps), "answers": answers}


async def measure(args, targets: dict[str, str]) -> dict:
    """{name: {"quiet": [round, ...], "hostile": [round, ...]}}."""
    out: dict = {name: {"quiet": [], "hostile": []} for name in targets}
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for url in targets.values():
            await stream_gaps(session, url, 4)  # warm-up
        for r in range(args.rounds):
            for name in rotated(list(targets), r):
                for kind in ("quiet", "hostile"):
                    out[name][kind].append(await one_round(session, targets[name], args, kind == "hostile"))
    return out


def print_table(args, results: dict, beside: str, load: tuple) -> None:
    print(f"\nstream of {args.max_tokens} tokens; hostile: enum of {args.enum} values in response_format, "
          f"{args.escape_kib} KiB unterminated string of escapes, in turn; {args.rounds} rounds; "
          f"load average before {load[0]:.1f}")
    print(f"beside the run: {beside}\n")
    print("| gateway | p50 gap quiet, ms | p99 gap quiet, ms | p50 gap hostile, ms | p99 gap hostile, ms | "
          "p99 hostile / quiet | hostile answers (status: count, median s) |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        quiet, hostile = rows["quiet"], rows["hostile"]
        ratios = [h["p99"] / q["p99"] for q, h in zip(quiet, hostile)]
        statuses: dict[int, list[float]] = {}
        for r in hostile:
            for status, seconds in r["answers"]:
                statuses.setdefault(status, []).append(seconds)
        answers = ", ".join(f"{s}: {len(v)}, {sorted(v)[len(v) // 2]:.2f}" for s, v in sorted(statuses.items()))
        print(f"| {name} | {spread([q['p50'] for q in quiet], 1000)} | {spread([q['p99'] for q in quiet], 1000)} | "
              f"{spread([h['p50'] for h in hostile], 1000)} | {spread([h['p99'] for h in hostile], 1000)} | "
              f"{spread(ratios, 1, 2)} | {answers} |")


async def main(argv: Optional[list[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gateway", action="append", type=parse_gateway_spec, default=[],
                    help="NAME:KEY=VALUE,... (root=DIR: another checkout); default: this checkout")
    ap.add_argument("--url", help="measure a running gateway instead of starting one")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--enum", type=int, default=4000)
    ap.add_argument("--escape-kib", type=int, default=64)
    args = ap.parse_args(argv)
    procs = []
    targets: dict[str, str] = {}
    logs = Path(tempfile.mkdtemp(prefix="hostile-bodies-"))
    try:
        if args.url:
            targets["running"] = args.url.rstrip("/")
        for i, (name, root, env) in enumerate(args.gateway or [parse_gateway_spec("gateway:")]):
            if args.url:
                break
            port = 18600 + i
            procs.append(start_gateway(port, root, env, logs / f"{name}.log"))
            targets[name] = f"http://127.0.0.1:{port}"
        beside = Beside({p.pid for p in procs})
        load = os.getloadavg()
        sampler = asyncio.create_task(_sample(beside))
        results = await measure(args, targets)
        sampler.cancel()
        print_table(args, results, beside.report(), load)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


async def _sample(beside: Beside) -> None:
    while True:
        beside.sample()
        await asyncio.sleep(2)


if __name__ == "__main__":
    asyncio.run(main())
