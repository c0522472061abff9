"""Gateway vs llama.cpp's own server: same process, same model, same load, side by side.

The gateway's embedded engine is llama.cpp; the peer is llama.cpp's own HTTP server, started
by bench/llamacpp_peer.py in its own process with the same model and slots (the gateway's
embedded listener is private). Both answer the same OpenAI requests, so the difference is what
the gateway adds. Rounds alternate between the
two targets to spread machine noise evenly; medians and ratios are reported.

    python bench/gateway_vs_llamacpp.py [--rounds 5] [--max-tokens 128] [--concurrency 1 4]

Prints Markdown tables (paste them into docs/BENCHMARKS.md with the command).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
PROMPT = [{"role": "user", "content": "Write a short story about a lighthouse keeper and a storm."}]


def start_peer(n_parallel: int) -> tuple[subprocess.Popen, str]:
    """llama.cpp's own server in its own process (bench/llamacpp_peer.py)."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "llamacpp_peer.py"), "--n-parallel", str(n_parallel)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("listening on "):
            return proc, line.split()[-1]
    raise SystemExit(f"llama.cpp peer exited with {proc.wait()}")


def start_gateway(port: int, extra_env: dict) -> subprocess.Popen:
    log = open(f"/tmp/bench-gateway-{port}.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **extra_env},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        log.seek(0)
        text = log.read()
        if "ready." in text:
            return proc
        if proc.poll() is not None:
            raise SystemExit(text)
        time.sleep(0.2)
    raise SystemExit("gateway did not start")


async def stream_once(session: aiohttp.ClientSession, url: str, max_tokens: int) -> dict:
    body = {
        "messages": PROMPT,
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    t0 = time.perf_counter()
    first = None
    tokens = 0
    async with session.post(url + "/v1/chat/completions", json=body) as resp:
        assert resp.status == 200, await resp.text()
        async for line in resp.content:
            if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            if first is None and chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter()
    end = time.perf_counter()
    return {"ttft": first - t0, "total": end - t0, "tokens": tokens, "decode_tps": (tokens - 1) / (end - first)}


async def tiny_once(session: aiohttp.ClientSession, url: str) -> float:
    body = {"prompt": "Hello", "max_tokens": 1, "temperature": 0}
    t0 = time.perf_counter()
    async with session.post(url + "/v1/completions", json=body) as resp:
        await resp.read()
    return time.perf_counter() - t0


async def load(url: str, concurrency: int, max_tokens: int) -> dict:
    async with aiohttp.ClientSession() as session:
        t0 = time.perf_counter()
        results = await asyncio.gather(*(stream_once(session, url, max_tokens) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {
        "tps": sum(r["tokens"] for r in results) / wall,
        "ttft": statistics.median(r["ttft"] for r in results),
        "decode_tps": statistics.median(r["decode_tps"] for r in results),
    }


def idle_memory() -> float:
    """USS of a gateway process serving HTTP with the engine constructed but no model loaded."""
    code = (
        "import asyncio, os, psutil, sys\n"
        "from aiohttp import web\n"
        "from gateway.settings import Settings\n"
        "from gateway.engines.llamacpp import LlamaCppEngine\n"
        "import xllamacpp, gateway.app, gateway.api.openai, gateway.api.ops\n"
        "async def main():\n"
        "    s = Settings()\n"
        "    app = gateway.app.create_app(s, LlamaCppEngine(s))\n"
        "    app.cleanup_ctx.clear()  # no model\n"
        "    runner = web.AppRunner(app); await runner.setup()\n"
        "    await web.TCPSite(runner, '127.0.0.1', 0).start()\n"
        "    await asyncio.sleep(1)\n"
        "    print(psutil.Process().memory_full_info().uss)\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 2**20


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--tiny", type=int, default=40, help="tiny requests per target for the added latency")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    proc = start_gateway(args.port, {"OSS_SIDECAR_LLAMACPP__N_PARALLEL": str(max(args.concurrency))})
    peer_proc, peer = start_peer(max(args.concurrency))
    gateway = f"http://127.0.0.1:{args.port}"
    targets = {"gateway": gateway, "llama.cpp": peer}
    try:
        async with aiohttp.ClientSession() as session:  # warm-up both paths
            for url in targets.values():
                await stream_once(session, url, 8)
        rows = []
        for c in args.concurrency:
            runs: dict[str, list[dict]] = {name: [] for name in targets}
            for _ in range(args.rounds):
                for name, url in targets.items():
                    runs[name].append(await load(url, c, args.max_tokens))
            med = {n: {k: statistics.median(r[k] for r in rs) for k in ("tps", "ttft", "decode_tps")} for n, rs in runs.items()}
            rows.append((c, med))
        tiny: dict[str, list[float]] = {name: [] for name in targets}
        async with aiohttp.ClientSession() as session:
            for _ in range(args.tiny):
                for name, url in targets.items():
                    tiny[name].append(await tiny_once(session, url))
        gw_rss = psutil.Process(proc.pid).memory_info().rss / 2**20
    finally:
        for p in (proc, peer_proc):
            p.terminate()
            p.wait(30)
    idle = idle_memory()

    print(f"\nStreaming chat, {args.max_tokens} output tokens (ignore_eos), medians of {args.rounds} alternating rounds\n")
    print("| concurrency | gateway tok/s | llama.cpp tok/s | ratio | gateway TTFT ms | llama.cpp TTFT ms | gateway decode tok/s/stream | llama.cpp decode tok/s/stream |")
    print("|---|---|---|---|---|---|---|---|")
    for c, med in rows:
        g, p = med["gateway"], med["llama.cpp"]
        print(
            f"| {c} | {g['tps']:.1f} | {p['tps']:.1f} | {g['tps'] / p['tps']:.3f} | {g['ttft'] * 1000:.1f} | "
            f"{p['ttft'] * 1000:.1f} | {g['decode_tps']:.1f} | {p['decode_tps']:.1f} |"
        )
    g50 = statistics.median(tiny["gateway"]) * 1000
    p50 = statistics.median(tiny["llama.cpp"]) * 1000
    print(f"\nTiny request (completion, 1 token, non-stream), {args.tiny} each, alternating\n")
    print("| target | p50 ms | p90 ms |")
    print("|---|---|---|")
    for name, values in tiny.items():
        qs = statistics.quantiles(values, n=10)
        print(f"| {name} | {statistics.median(values) * 1000:.2f} | {qs[8] * 1000:.2f} |")
    print(f"\nAdded latency p50 (gateway - llama.cpp): {g50 - p50:.2f} ms")
    print(f"Gateway process RSS with the model loaded: {gw_rss:.0f} MiB")
    print(f"Idle gateway memory without the model (USS): {idle:.1f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
