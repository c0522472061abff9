"""Affinity benchmark: 8 simulated editors share 3 replicas behind the upstream engine,
round-robin against prefix affinity, side by side in one run.

Each editor types the typing trace (bench/traces) into its own copy of the file (a header line
of its own makes each editor's prefix distinct, as different files are), with an editor's
policy: a FIM request `--debounce-ms` (150) after the last keystroke, the one in flight cancelled
(connection closed) when the user types on. The replicas are real embedded-engine gateways, started fresh
for each policy so no cache carries over. Numbers come from the replicas' own counters:

* cached share: prompt tokens llama.cpp served from its prompt cache / all prompt tokens it was
  given (llama.cpp's prompt_tokens_cached_total and prompt_tokens_total on each replica);
* load: requests each replica served; max replica vs the mean;
* TTFT p50/p99: from each editor's request to its first streamed text (finished requests).

    python bench/upstream_affinity.py [--editors 8] [--replicas 3] [--edits 120] [--speed 1]
                                      [--debounce-ms 150] [--replica-threads 1] [--drain-s 60]
                                      [--tokenizer DIR_OR_TOKENIZER_JSON]

Each replica gets `--replica-threads` llama.cpp threads (3 replicas share one machine's cores;
more threads than cores makes llama.cpp spin). An editor's last request gets `--drain-s` seconds
after the typing ends; what is still running then is cancelled and counted as unfinished.

Prints a Markdown table (docs/SCALING.md has the numbers with the command and the machine).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from lsp.context import build_context  # noqa: E402

TRACE = ROOT / "bench" / "traces" / "lru_cache.trace.json"
PROJECTS = ["billing", "search", "auth", "reports", "ingest", "scheduler", "gateway", "mailer", "export", "audit"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def start(args: list[str], env: dict, name: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(Path(tempfile.gettempdir()) / f"upstream-affinity-{name}-{port}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), *args],
                            cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    return proc, url


def wait_ready(proc: subprocess.Popen, url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} not ready after {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Editor:
    """One user typing the trace into their own file, with debounce and cancel-superseded."""

    def __init__(self, number: int, trace: dict, edits: int, speed: float, url: str, model: str, drain_s: float,
                 debounce_s: float):
        header = f"# {PROJECTS[number % len(PROJECTS)]} service, module {number}: completion cache\n"
        self.before, self.after = header + trace["before"], trace["after"]
        self.edits = trace["edits"][:edits]
        self.speed, self.url, self.model, self.drain_s, self.debounce_s = speed, url, model, drain_s, debounce_s
        self.ttft_ms: list[float] = []
        self.sent = self.cancelled = self.finished = self.unfinished = 0

    async def request(self, http: aiohttp.ClientSession) -> None:
        await asyncio.sleep(self.debounce_s)
        ctx = build_context(self.before + self.after, len(self.before), 1024)
        body = {"model": self.model, "prompt": ctx.prefix, "suffix": ctx.suffix, "max_tokens": 24,
                "temperature": 0, "stream": True}
        if ctx.mid_line:
            body["stop"] = ["\n"]
        self.sent += 1
        t0 = time.perf_counter()
        first = None
        try:
            async with http.post(self.url + "/v1/completions", json=body) as resp:
                async for line in resp.content:
                    if first is None and line.startswith(b"data: {") and b'"text":""' not in line:
                        first = time.perf_counter()
            self.finished += 1
            if first is not None:
                self.ttft_ms.append((first - t0) * 1000)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def type(self, http: aiohttp.ClientSession) -> None:
        pending: asyncio.Task | None = None
        t0, at = time.monotonic(), 0.0
        for delay, text in self.edits:
            at += delay / 1000 / self.speed
            await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
            self.before += text
            if pending is not None and not pending.done():
                pending.cancel()  # superseded: the connection closes, the replica aborts it
            pending = asyncio.create_task(self.request(http))
        if pending is not None:
            done, _ = await asyncio.wait([pending], timeout=self.drain_s)
            if not done:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
                self.cancelled -= 1
                self.unfinished += 1


def replica_counters(url: str) -> dict:
    stats = get_json(url + "/v1/stats")
    engine = stats["engine_counters"]
    return {
        "processed": engine.get("prompt_tokens_total", 0.0),
        "cached": engine.get("prompt_tokens_cached_total", 0.0),
        "requests": stats["gateway_counters"]["requests_total"],
    }


async def run_policy(policy: str, opts: argparse.Namespace, trace: dict) -> dict:
    threads = {"OSS_SIDECAR_LLAMACPP__N_THREADS": str(opts.replica_threads)}
    replicas = [start([], threads, f"replica{i}") for i in range(opts.replicas)]
    procs = [p for p, _ in replicas]
    try:
        for proc, url in replicas:
            wait_ready(proc, url)
        config = Path(tempfile.mkdtemp()) / "front.yaml"
        servers = "".join(f"    - url: {url}\n" for _, url in replicas)
        config.write_text(f"engine: upstream\nupstream:\n  routing: {policy}\n  tokenizer: {opts.tokenizer}\n"
                          f"  servers:\n{servers}")
        front, front_url = start(["--config", str(config), "--max-queue", "4096"],
                                 {"OSS_SIDECAR_ADMISSION__QUEUE_TIMEOUT_S": "3600"}, f"front-{policy}")
        procs.append(front)
        wait_ready(front, front_url)
        model = get_json(front_url + "/v1/models")["data"][0]["id"]
        before = [replica_counters(url) for _, url in replicas]
        editors = [Editor(i, trace, opts.edits, opts.speed, front_url, model, opts.drain_s, opts.debounce_ms / 1000)
                   for i in range(opts.editors)]
        t0 = time.monotonic()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
            await asyncio.gather(*(e.type(http) for e in editors))
        wall = time.monotonic() - t0
        await asyncio.sleep(1.0)  # let the replicas count the last aborts
        after = [replica_counters(url) for _, url in replicas]
    finally:
        for proc in procs:
            stop(proc)
    delta = [{k: a[k] - b[k] for k in a} for a, b in zip(after, before)]
    processed = sum(d["processed"] for d in delta)
    cached = sum(d["cached"] for d in delta)
    loads = [d["requests"] for d in delta]
    ttft = sorted(t for e in editors for t in e.ttft_ms)
    return {
        "policy": policy,
        "requests": sum(e.sent for e in editors),
        "finished": sum(e.finished for e in editors),
        "cancelled": sum(e.cancelled for e in editors),
        "unfinished": sum(e.unfinished for e in editors),
        "cached_share": cached / (cached + processed) if cached + processed else 0.0,
        "prompt_tokens": cached + processed,
        "ttft_p50": statistics.median(ttft) if ttft else None,
        "ttft_p99": ttft[min(len(ttft) - 1, int(0.99 * len(ttft)))] if ttft else None,
        "loads": loads,
        "max_over_mean": max(loads) / statistics.mean(loads) if any(loads) else None,
        "wall_s": wall,
    }


def fmt(value, digits: int = 0) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table(rows: list[dict]) -> str:
    out = ["| routing | requests (finished / cancelled / unfinished) | prompt tokens | cached share | TTFT p50 (ms) | TTFT p99 (ms) "
           "| requests per replica | max / mean load |",
           "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for r in rows:
        out.append(
            f"| {r['policy']} | {r['requests']} ({r['finished']} / {r['cancelled']} / {r['unfinished']}) | {r['prompt_tokens']:.0f} "
            f"| {100 * r['cached_share']:.1f}% | {fmt(r['ttft_p50'])} | {fmt(r['ttft_p99'])} "
            f"| {' / '.join(str(int(x)) for x in r['loads'])} | {fmt(r['max_over_mean'], 2)} |"
        )
    return "\n".join(out)


def default_tokenizer() -> str:
    for cand in (ROOT.parent / "shared" / "device" / "tokenizer-smollm2", ROOT / "shared" / "device" / "tokenizer-smollm2"):
        if (cand / "tokenizer.json").is_file():
            return str(cand)
    return ""


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--editors", type=int, default=8)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--edits", type=int, default=120, help="keystrokes of the trace each editor types")
    parser.add_argument("--speed", type=float, default=1.0, help="typing speed-up over the trace's timing")
    parser.add_argument("--debounce-ms", type=float, default=150.0, help="quiet time before an editor's request")
    parser.add_argument("--replica-threads", type=int, default=1, help="llama.cpp threads per replica")
    parser.add_argument("--drain-s", type=float, default=60.0, help="wait for an editor's last request")
    parser.add_argument("--tokenizer", default=default_tokenizer(),
                        help="the embedded model's tokenizer.json or folder (the replicas have no /tokenize)")
    parser.add_argument("--policies", nargs="+", default=["round_robin", "affinity"])
    opts = parser.parse_args()
    if not opts.tokenizer:
        raise SystemExit("--tokenizer: give the SmolLM2 tokenizer.json (shared/device/tokenizer-smollm2)")
    trace = json.loads(TRACE.read_text())
    # SIGTERM unwinds like Ctrl-C, so the replicas started here are stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    rows = [asyncio.run(run_policy(policy, opts, trace)) for policy in opts.policies]
    print(f"{opts.editors} editors × {opts.edits} keystrokes (speed ×{opts.speed:g}, debounce {opts.debounce_ms:g} ms) "
          f"over {opts.replicas} replicas "
          f"({opts.replica_threads} llama.cpp thread(s) each)\n")
    print(table(rows))
    print("\n" + json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
