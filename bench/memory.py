"""Resident memory of `oss-sidecar serve` with the default model, idle and after mixed requests,
beside llama.cpp's own server on the same GGUF with the same window.

Each round starts a fresh gateway and a fresh llama.cpp server (bench/llamacpp_peer.py with
--kv-unified: `llama-server -np N -c CTX --kv-unified`, one pool of CTX tokens that every slot
shares), one after the other, never both at once, and measures each:
- idle: resident memory (RSS, the process tree's sum) once it answers, after a short settle;
- after: resident memory after --requests mixed requests, --concurrency at a time: chat,
  fill-in-the-middle (for llama.cpp's server a plain completion of the prefix: /infill needs
  FIM tokens, which the default model lacks) and (gateway only: llama.cpp's server has no second model) embeddings.
The gateway's extra is its figure minus llama.cpp's, round by round. Every figure is the
median over rounds with its min–max; the machine's load and what ran beside are printed too.

    python bench/memory.py [--rounds 3] [--requests 200] [--concurrency 4]
        [--gateway-env OSS_SIDECAR_LLAMACPP__CACHE_TYPE=q8_0 ...] [--no-peer]

Prints a Markdown table (paste it into docs/BENCHMARKS.md with the command).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from gateway_vs_llamacpp import Beside, spread, start_gateway, start_peer  # noqa: E402

CODE_BEFORE = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"
CODE_AFTER = "\n\nprint(fibonacci(10))\n"
TOPICS = ["a lighthouse", "a compiler", "the sea", "a garden", "a train", "a library", "winter", "a robot"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_rss(pid: int) -> int:
    """RSS of a process and its children, in bytes."""
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return total


def settled_rss(pid: int, settle_s: float) -> int:
    """RSS after settle_s: the lowest of a few samples (a request's transient buffers gone)."""
    time.sleep(settle_s)
    return min(tree_rss(pid) for _ in range(3) if time.sleep(0.3) is None)


async def one_request(session: aiohttp.ClientSession, url: str, i: int, peer: bool) -> None:
    kind = ("chat", "fim", "embeddings")[i % (2 if peer else 3)]
    topic = TOPICS[i % len(TOPICS)]
    if kind == "chat":
        path, body = "/v1/chat/completions", {
            "messages": [{"role": "user", "content": f"Write two sentences about {topic}. ({i})"}],
            "max_tokens": 48, "temperature": 0}
    elif kind == "fim" and peer:  # the default model has no FIM tokens: llama.cpp's /infill refuses
        path, body = "/v1/completions", {"prompt": CODE_BEFORE + f"    # {i}\n", "max_tokens": 32, "temperature": 0}
    elif kind == "fim":
        path, body = "/v1/completions", {"prompt": CODE_BEFORE + f"    # {i}\n", "suffix": CODE_AFTER,
                                         "max_tokens": 32, "temperature": 0}
    else:
        path, body = "/v1/embeddings", {"input": [f"{topic} number {i}", f"a note about {topic}"]}
    async with session.post(url + path, json=body) as resp:
        text = await resp.text()
        if resp.status != 200:
            raise SystemExit(f"{path}: {resp.status} {text[:300]}")


async def mixed_load(url: str, requests: int, concurrency: int, peer: bool) -> None:
    queue = iter(range(requests))

    async def worker(session: aiohttp.ClientSession) -> None:
        for i in queue:
            await one_request(session, url, i, peer)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))


def wait_http(url: str, timeout: float = 180) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer")


def measure(proc, url: str, args, peer: bool, beside: Beside) -> tuple[int, int]:
    try:
        idle = settled_rss(proc.pid, args.settle)
        beside.sample()
        asyncio.run(mixed_load(url, args.requests, args.concurrency, peer))
        beside.sample()
        after = settled_rss(proc.pid, args.settle)
        return idle, after
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200, help="mixed requests per target and round")
    parser.add_argument("--concurrency", type=int, default=4, help="requests at once (and slots of each server)")
    parser.add_argument("--window", type=int, default=8192, help="tokens per conversation (and the peer's pool)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait before measuring")
    parser.add_argument("--gateway-env", nargs="*", default=[], metavar="KEY=VALUE",
                        help="environment overrides for the gateway (e.g. OSS_SIDECAR_LLAMACPP__CACHE_TYPE=q8_0)")
    parser.add_argument("--no-peer", action="store_true", help="the gateway alone")
    args = parser.parse_args()

    env = dict(item.split("=", 1) for item in args.gateway_env)
    env.setdefault("OSS_SIDECAR_LLAMACPP__N_PARALLEL", str(args.concurrency))
    env.setdefault("OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT", str(args.window))
    logs = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    beside = Beside(own={os.getpid()})
    beside.sample()
    load_before = os.getloadavg()
    figures: dict[str, list[float]] = {k: [] for k in ("gw_idle", "gw_after", "peer_idle", "peer_after")}
    for r in range(args.rounds):
        port = free_port()
        gw = start_gateway(port, ROOT, env, logs / f"gateway-{r}.log")
        beside.own.add(gw.pid)
        idle, after = measure(gw, f"http://127.0.0.1:{port}", args, False, beside)
        figures["gw_idle"].append(idle)
        figures["gw_after"].append(after)
        print(f"round {r + 1}: gateway idle {idle / 2**20:.0f} MiB, after {after / 2**20:.0f} MiB", flush=True)
        if args.no_peer:
            continue
        peer, url = start_peer(args.concurrency, args.window, logs / f"peer-{r}.log", kv_unified=True)
        beside.own.add(peer.pid)
        wait_http(url)
        idle, after = measure(peer, url, args, True, beside)
        figures["peer_idle"].append(idle)
        figures["peer_after"].append(after)
        print(f"round {r + 1}: llama.cpp idle {idle / 2**20:.0f} MiB, after {after / 2**20:.0f} MiB", flush=True)
    load_after = os.getloadavg()

    mib = 1 / 2**20
    print()
    print(f"{args.rounds} rounds, {args.requests} mixed requests each, {args.concurrency} at a time; "
          f"window {args.window} tokens, {args.concurrency} slots; gateway env: {env}. "
          f"CPUs: {len(os.sched_getaffinity(0))}. Load average before {load_before[0]:.2f}, after {load_after[0]:.2f}.")
    print(f"Beside: {beside.report()}.")
    print()
    print("| | idle RSS, MiB | after the requests, MiB |")
    print("|---|---|---|")
    print(f"| oss-sidecar serve | {spread(figures['gw_idle'], mib, 0)} | {spread(figures['gw_after'], mib, 0)} |")
    if not args.no_peer:
        print(f"| llama.cpp's server (`--kv-unified`) | {spread(figures['peer_idle'], mib, 0)} | "
              f"{spread(figures['peer_after'], mib, 0)} |")
        extra_idle = [g - p for g, p in zip(figures["gw_idle"], figures["peer_idle"])]
        extra_after = [g - p for g, p in zip(figures["gw_after"], figures["peer_after"])]
        print(f"| the gateway's extra | {spread(extra_idle, mib, 0)} | {spread(extra_after, mib, 0)} |")


if __name__ == "__main__":
    main()
