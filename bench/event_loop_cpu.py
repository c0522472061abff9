"""CPU time of the gateway's event-loop thread per streamed chunk, gateways side by side.

Every streamed token passes through the event loop (the engine's queue, the serving core, the
chunk's JSON, the socket write). On a 2-core machine that thread takes its time from llama.cpp's
threads, so its cost per chunk is a cost per token. This starts each gateway (embedded engine,
its defaults unless the spec says otherwise), streams chat completions of --max-tokens tokens
with `ignore_eos`, and reads the thread's CPU time from /proc before and after each
round; rounds alternate between the gateways. Figures: median (min–max) over rounds.

    python bench/event_loop_cpu.py --gateway 'base:root=/tmp/wt-base' --gateway 'new:' \\
        [--streams 1 4] [--rounds 4] [--max-tokens 256]

A spec is gateway_vs_llamacpp.py's `NAME:KEY=VALUE,...` (`root=DIR` runs another checkout).
Linux only (/proc).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_vs_llamacpp import parse_gateway_spec, rotated, spread, start_gateway  # noqa: E402

PROMPT = [{"role": "user", "content": "Write a story."}]


def main_thread_cpu(pid: int) -> float:
    """Seconds of CPU the process's main thread (the event loop) has run, from the scheduler's
    own count in nanoseconds (/proc's utime and stime count 10 ms ticks: too coarse here)."""
    return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[0]) / 1e9


async def stream_chunks(session: aiohttp.ClientSession, url: str, max_tokens: int) -> int:
    body = {"messages": PROMPT, "max_tokens": max_tokens, "ignore_eos": True, "stream": True, "temperature": 0}
    chunks = 0
    async with session.post(url + "/v1/chat/completions", json=body) as resp:
        resp.raise_for_status()
        async for line in resp.content:
            chunks += line.startswith(b"data: {")
    return chunks


async def measure(args, targets: dict[str, tuple[int, str]]) -> dict:
    """{(name, streams): [(ms per chunk, chunks/s), ...]} over the rounds."""
    out: dict = {}
    async with aiohttp.ClientSession() as session:
        for pid, url in targets.values():  # warm-up: the first request pays one-time costs
            await stream_chunks(session, url, 8)
        for r in range(args.rounds):
            for streams in args.streams:
                for name in rotated(list(targets), r):
                    pid, url = targets[name]
                    before, t0 = main_thread_cpu(pid), time.perf_counter()
                    chunks = sum(await asyncio.gather(*(stream_chunks(session, url, args.max_tokens)
                                                        for _ in range(streams))))
                    wall = time.perf_counter() - t0
                    used = main_thread_cpu(pid) - before
                    out.setdefault((name, streams), []).append((used / chunks * 1000, chunks / wall))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gateway", action="append", type=parse_gateway_spec, required=True,
                    metavar="NAME:SPEC", help="a gateway to measure (repeat for several)")
    ap.add_argument("--streams", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--port", type=int, default=8790, help="first port; one per gateway")
    args = ap.parse_args()
    procs, targets = [], {}
    logs = Path(tempfile.mkdtemp(prefix="event-loop-cpu-"))
    try:
        for i, (name, root, env) in enumerate(args.gateway):
            env = {"OSS_SIDECAR_EMBEDDINGS__ENABLED": "false", **env}
            proc = start_gateway(args.port + i, root, env, logs / f"{name}.log")
            procs.append(proc)
            targets[name] = (proc.pid, f"http://127.0.0.1:{args.port + i}")
        results = asyncio.run(measure(args, targets))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
    print(f"{args.rounds} rounds, {args.max_tokens} tokens per stream, load average at the end "
          f"{os.getloadavg()[0]:.2f}; median (min–max)\n")
    print("| gateway | streams | event-loop CPU per chunk, ms | chunks/s |")
    print("| --- | ---: | ---: | ---: |")
    for (name, streams), rows in results.items():
        print(f"| {name} | {streams} | {spread([ms for ms, _ in rows], digits=3)} | {spread([r for _, r in rows])} |")


if __name__ == "__main__":
    main()
