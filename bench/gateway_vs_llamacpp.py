"""Gateway vs llama.cpp's own server: same machine, same model, same load, side by side.

The gateway's embedded engine is llama.cpp; the peer is llama.cpp's own HTTP server, started
by bench/llamacpp_peer.py in its own process with the same model and slots and llama.cpp's
default settings otherwise (the gateway's embedded listener is private). Both answer the same
OpenAI requests, so the difference is what the gateway adds and what its settings change.
Rounds alternate between the targets (the order rotates every round) to spread machine noise
evenly; every figure is the median over rounds with its min–max.

    python bench/gateway_vs_llamacpp.py [--rounds 5] [--max-tokens 128] [--concurrency 1 4]
        [--contention none one-core half-both] [--settle 2]
        [--gateway 'threads1:OSS_SIDECAR_LLAMACPP__N_THREADS=1'] [--gateway 'old:root=/tmp/wt-old']

`--contention` runs the whole set once per condition, with the CPU load of bench/cpu_load.py
started before and stopped after (also on errors and Ctrl-C), and `--settle` seconds of it
before the first round (the gateway's thread tuner, llamacpp.thread_tuning, notices a load that
lasted half a minute; the gateway's log lines about its thread count during each condition are
printed with its table). `--gateway NAME:SPEC` adds a
further gateway to compare in the same rounds: SPEC is comma-separated KEY=VALUE environment
overrides, and `root=DIR` runs the gateway from another checkout (e.g. an older commit).

Prints Markdown tables (paste them into docs/BENCHMARKS.md with the command).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from cpu_load import CONDITIONS, CpuLoad  # noqa: E402

PROMPT = [{"role": "user", "content": "Write a short story about a lighthouse keeper and a storm."}]
PEER = "llama.cpp"


def start_peer(n_parallel: int, context_per_slot: int, log_path: Path,
               kv_unified: bool = False) -> tuple[subprocess.Popen, str]:
    """llama.cpp's own server in its own process (bench/llamacpp_peer.py), its log in a file;
    kv_unified: one pool of context_per_slot tokens that all slots share."""
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "llamacpp_peer.py"), "--n-parallel", str(n_parallel),
         "--context-per-slot", str(context_per_slot)] + (["--kv-unified"] if kv_unified else []),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("listening on "):
            return proc, line.split()[-1]
    raise SystemExit(f"llama.cpp peer exited with {proc.wait()}; log: {log_path}")


def parse_gateway_spec(spec: str) -> tuple[str, Path, dict[str, str]]:
    """`NAME:KEY=VALUE,...` → (name, source root, environment overrides); `root=DIR` picks the checkout."""
    name, _, rest = spec.partition(":")
    if not name or name == PEER:
        raise argparse.ArgumentTypeError(f"--gateway {spec!r}: needs a NAME other than {PEER!r}")
    root, env = ROOT, {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise argparse.ArgumentTypeError(f"--gateway {spec!r}: {item!r} is not KEY=VALUE")
        if key == "root":
            root = Path(value).resolve()
        else:
            env[key] = value
    return name, root, env


def start_gateway(port: int, root: Path, extra_env: dict, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "w+")
    env = {**os.environ, **extra_env}
    env["PYTHONPATH"] = str(root)  # the checkout's own code, whatever is installed
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + 180
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


def rotated(names: list[str], r: int) -> list[str]:
    """The targets' order in round r: rotates, so no target always runs first or after the same one."""
    k = r % len(names)
    return names[k:] + names[:k]


def spread(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    """`median (min–max)` of a figure over rounds."""
    med, lo, hi = (statistics.median(values) * scale, min(values) * scale, max(values) * scale)
    return f"{med:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


class Beside:
    """Samples the CPU use of every process outside this benchmark's own tree while it runs."""

    def __init__(self, own: set[int]):
        self.own = own
        self.cpu: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self.samples = 0
        self._seen: set[int] = set()

    def sample(self) -> None:
        self.samples += 1
        for p in psutil.process_iter(["name", "cmdline", "nice"]):  # psutil keeps each Process
            if p.pid in self.own or p.pid == os.getpid():
                continue
            try:
                if p.pid not in self._seen:
                    self._seen.add(p.pid)
                    p.cpu_percent()  # first sight: starts its counter
                    cmd = " ".join((p.info["cmdline"] or [p.info["name"] or "?"])[:5])
                    self.names[p.pid] = f"`{cmd[:80]}` (nice {p.info['nice']})"
                else:
                    self.cpu[p.pid] = self.cpu.get(p.pid, 0.0) + p.cpu_percent()
            except psutil.Error:
                continue

    def report(self, top: int = 5) -> str:
        n = max(self.samples - 1, 1)
        busy = sorted(((c / n, pid) for pid, c in self.cpu.items() if c / n >= 2.0), reverse=True)[:top]
        if not busy:
            return "nothing else above 2 % of a core"
        return "; ".join(f"{self.names.get(pid, pid)}: {c:.0f} % of a core" for c, pid in busy)


async def run_condition(args, condition: str, targets: dict[str, str], own: set[int]) -> dict:
    """All rounds of one contention condition, the load running throughout."""
    names = list(targets)
    out: dict = {"condition": condition, "load_before": os.getloadavg()}
    beside = Beside(own)
    beside.sample()
    with CpuLoad(condition) as cpu_load:
        own.update(p.pid for p in cpu_load.processes)
        await asyncio.sleep(args.settle)  # let the load settle (and the thread tuner see it)
        out["loadavg_start"] = os.getloadavg()
        rows = {}
        for c in args.concurrency:
            runs: dict[str, list[dict]] = {name: [] for name in names}
            for r in range(args.rounds):
                for name in rotated(names, r):
                    runs[name].append(await load(targets[name], c, args.max_tokens))
                beside.sample()
            rows[c] = runs
        tiny: dict[str, list[float]] = {name: [] for name in names}
        async with aiohttp.ClientSession() as session:
            for i in range(args.tiny):
                for name in rotated(names, i):
                    tiny[name].append(await tiny_once(session, targets[name]))
        beside.sample()
        out["loadavg_end"] = os.getloadavg()
    out["rows"], out["tiny"], out["beside"] = rows, tiny, beside.report()
    out["thread_lines"] = {name: log.new_lines("thread count") for name, log in args.gateway_logs.items()}
    return out


def print_condition(args, res: dict, gateways: list[str]) -> None:
    la = lambda t: "/".join(f"{x:.2f}" for x in t)  # noqa: E731
    print(f"\n### Contention: {res['condition']}\n")
    print(f"Load average (1/5/15 min) before the load {la(res['load_before'])}, with it at the start "
          f"{la(res['loadavg_start'])}, at the end {la(res['loadavg_end'])}. Beside: {res['beside']}.\n")
    print(f"Streaming chat, {args.max_tokens} output tokens (ignore_eos), {args.rounds} alternating rounds; "
          "median (min–max) over rounds; ratio = gateway / llama.cpp of the medians, then the min–max "
          "of the per-round ratios\n")
    print("| concurrency | target | tok/s | ratio to llama.cpp | TTFT p50 ms | decode tok/s/stream |")
    print("|---|---|---|---|---|---|")
    for c, runs in res["rows"].items():
        peer_tps = [r["tps"] for r in runs[PEER]]
        for name in [*gateways, PEER]:
            tps = [r["tps"] for r in runs[name]]
            ratio = "—"
            if name != PEER:
                per_round = [g / p for g, p in zip(tps, peer_tps)]
                ratio = (f"{statistics.median(tps) / statistics.median(peer_tps):.3f} "
                         f"({min(per_round):.3f}–{max(per_round):.3f})")
            print(f"| {c} | {name} | {spread(tps)} | {ratio} | {spread([r['ttft'] for r in runs[name]], 1000)} | "
                  f"{spread([r['decode_tps'] for r in runs[name]])} |")
    for name, lines in res["thread_lines"].items():
        print(f"\n{name}'s thread count during this condition (its log):\n")
        for line in lines or ["(no measurement)"]:
            print(f"    {line}")
    tiny = res["tiny"]
    print(f"\nTiny request (completion, 1 token, non-stream), {args.tiny} each, alternating\n")
    print("| target | p50 ms | p90 ms | added p50 ms |")
    print("|---|---|---|---|")
    p50 = statistics.median(tiny[PEER]) * 1000
    for name, values in tiny.items():
        qs = statistics.quantiles(values, n=10)
        med = statistics.median(values) * 1000
        added = f"{med - p50:.2f}" if name != PEER else "—"
        print(f"| {name} | {med:.2f} | {qs[8] * 1000:.2f} | {added} |")


class LogTail:
    """A gateway's log file, read on from where the last read ended."""

    def __init__(self, path: Path):
        self.path, self.offset = path, 0

    def new_lines(self, containing: str) -> list[str]:
        with open(self.path, errors="replace") as f:
            f.seek(self.offset)
            text = f.read()
            self.offset = f.tell()
        return [line.strip() for line in text.splitlines() if containing in line]


def idle_memory() -> float:
    """USS of a gateway process serving HTTP with the engine constructed but no model loaded."""
    code = (
        "import asyncio, os, psutil, sys\n"
        "from aiohttp import web\n"
        "from gateway.settings import Settings\n"
        "from gateway.engines.llamacpp.engine import LlamaCppEngine\n"
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


def parse_conditions(values: list[str]) -> list[str]:
    """`--contention none one-core` or `--contention none,one-core`, in the order given."""
    out = []
    for value in values:
        for item in filter(None, value.split(",")):
            if item not in CONDITIONS:
                raise SystemExit(f"--contention: {item!r} is not one of {', '.join(CONDITIONS)}")
            out.append(item)
    return out


async def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--tiny", type=int, default=40, help="tiny requests per target for the added latency")
    parser.add_argument("--contention", nargs="+", default=["none"], metavar="{none,one-core,half-both}",
                        help="CPU load conditions to run (bench/cpu_load.py), each with all rounds")
    parser.add_argument("--gateway", dest="gateways", action="append", type=parse_gateway_spec, default=[],
                        metavar="NAME:KEY=VALUE,...", help="a further gateway in the same rounds")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds of each condition's load before its first round (40: the thread tuner adapts)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--context-per-slot", type=int, default=8192)
    parser.add_argument("--no-idle-memory", action="store_true", help="skip the idle-memory measurement")
    args = parser.parse_args(argv)
    conditions = parse_conditions(args.contention)
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop the load, the gateways and the peer.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    n_parallel = str(max(args.concurrency))
    base_env = {"OSS_SIDECAR_LLAMACPP__N_PARALLEL": n_parallel,
                "OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT": str(args.context_per_slot)}
    specs = [("gateway", ROOT, {}), *args.gateways]
    procs: list[subprocess.Popen] = []
    targets: dict[str, str] = {}
    args.gateway_logs = {}
    try:
        # The peer first: its load would be in the gateway's first thread measurement.
        peer_proc, targets[PEER] = start_peer(max(args.concurrency), args.context_per_slot,
                                             Path("/tmp/bench-llamacpp-peer.log"))
        procs.append(peer_proc)
        for i, (name, root, env) in enumerate(specs):
            port = args.port + i
            log_path = Path(f"/tmp/bench-gateway-{port}.log")
            procs.append(start_gateway(port, root, {**base_env, **env}, log_path))
            targets[name] = f"http://127.0.0.1:{port}"
            args.gateway_logs[name] = LogTail(log_path)
        own = {p.pid for p in procs} | {os.getpid()}
        async with aiohttp.ClientSession() as session:  # warm-up every path
            for url in targets.values():
                await stream_once(session, url, 8)
        gateways = [name for name, _, _ in specs]
        described = ", ".join(f"{n} ({r}{' ' + str(e) if e else ''})" for n, r, e in specs)
        print(f"Targets: {described}; {PEER}: bench/llamacpp_peer.py (llama.cpp's defaults; "
              f"{n_parallel} slots of {args.context_per_slot} tokens). CPUs: {len(os.sched_getaffinity(0))}.",
              flush=True)
        for condition in conditions:  # each table as soon as it is measured
            print_condition(args, await run_condition(args, condition, targets, own), gateways)
            sys.stdout.flush()
        gw_rss = psutil.Process(procs[1].pid).memory_info().rss / 2**20  # procs[0] is the peer
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)

    print(f"\nGateway process RSS with the model loaded: {gw_rss:.0f} MiB")
    if not args.no_idle_memory:
        print(f"Idle gateway memory without the model (USS): {idle_memory():.1f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
