"""Gateway (vllm engine) vs vLLM's own OpenAI server on the same GPU, in alternating rounds.

Both servers are up at once on the same GPU(s), each with its share of the memory
(--gpu-util, default 0.45), the same model folder (dummy weights) and the same engine
arguments. The load is vLLM's own generator (`vllm bench serve`, random dataset,
--ignore-eos), run in this process so vLLM is imported once. For each round and each
concurrency both servers get the same prompts back to back, the first one alternating
between rounds; a round's prompts are new (no prefix-cache hits from an earlier round).
One unrecorded warm-up run per server comes first. The table reports the median and the
min–max over rounds of each figure, and the gateway/peer ratio per round.

Runs on the GPU machine from the repo root after `. /tmp/vllm-env.sh` (see
../shared/device/README.md; $STAGE/make-dummy-model.py builds the model folder):

    python bench/gpu_compare.py --shape llama8b --tp 1 --conc 1 16 64 128 --rounds 3 \
        --prompts-per-c 8 --results $OUT/llama8b-tp1
    python bench/gpu_compare.py --summary DIR      # the table again from DIR/results.jsonl
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
import time
import urllib.request
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
STAGE = Path(os.environ.get("STAGE", "/tmp/vllm-stage"))


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default="llama8b", help="make-dummy-model.py shape: llama1b, llama8b, qwen1.5b")
    ap.add_argument("--model-dir", help="model folder (default /tmp/<shape>)")
    ap.add_argument("--tp", type=int, default=1, help="tensor parallel size of both servers")
    ap.add_argument("--gpu-util", type=float, default=0.45, help="GPU memory share of each server")
    ap.add_argument("--max-model-len", type=int, default=4096)
    ap.add_argument("--max-num-seqs", type=int, default=128)
    ap.add_argument("--conc", type=int, nargs="+", default=[1, 16, 64, 128])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prompts-per-c", type=int, default=8, help="prompts per unit of concurrency")
    ap.add_argument("--min-prompts", type=int, default=8)
    ap.add_argument("--input-len", type=int, default=512)
    ap.add_argument("--output-len", type=int, default=128)
    ap.add_argument("--peer-port", type=int, default=8100)
    ap.add_argument("--gateway-port", type=int, default=8200)
    ap.add_argument("--results", default=os.environ.get("OUT", "bench/results/raw"))
    ap.add_argument("--summary", metavar="DIR", help="print the table from DIR/results.jsonl and exit")
    return ap.parse_args(argv)


def make_model(args) -> Path:
    model = Path(args.model_dir or f"/tmp/{args.shape}")
    if not (model / "config.json").exists():
        subprocess.run([sys.executable, str(STAGE / "make-dummy-model.py"), args.shape, str(model)],
                       check=True, stdout=subprocess.DEVNULL)
    return model


def stop_servers_on_sigterm() -> None:
    """SIGTERM (`timeout`, a job's end) as Ctrl-C: the `finally` that stops the servers runs. They
    run in sessions of their own, so nothing else would stop them."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def require_free_port(port: int) -> None:
    """A server left over on the port would answer /health for the new one."""
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} is taken: a server is still running there (an earlier run's?)")


def start_peer(args, model: Path, log: Path, extra_args: Sequence[str] = ()) -> subprocess.Popen:
    require_free_port(args.peer_port)
    cmd = [sys.executable, "-m", "vllm.entrypoints.cli.main", "serve", str(model), "--load-format", "dummy",
           "--host", "127.0.0.1", "--port", str(args.peer_port), "--served-model-name", model.name,
           "--tensor-parallel-size", str(args.tp), "--max-model-len", str(args.max_model_len),
           "--gpu-memory-utilization", str(args.gpu_util), "--max-num-seqs", str(args.max_num_seqs),
           "--enable-prefix-caching", *extra_args]
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def start_gateway(args, model: Path, log: Path, extra_env: Optional[dict[str, str]] = None) -> subprocess.Popen:
    require_free_port(args.gateway_port)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{os.environ.get('PYTHONPATH', '')}",
           "OSS_SIDECAR_VLLM__LOAD_FORMAT": "dummy", "OSS_SIDECAR_VLLM__TENSOR_PARALLEL_SIZE": str(args.tp),
           "OSS_SIDECAR_VLLM__MAX_MODEL_LEN": str(args.max_model_len),
           "OSS_SIDECAR_VLLM__GPU_MEMORY_UTILIZATION": str(args.gpu_util),
           "OSS_SIDECAR_VLLM__MAX_NUM_SEQS": str(args.max_num_seqs),
           "OSS_SIDECAR_VLLM__ENABLE_PREFIX_CACHING": "true",
           # Admission must not be the bottleneck: the engine's own batch limit decides.
           "OSS_SIDECAR_ADMISSION__MAX_CONCURRENCY": str(args.max_num_seqs),
           "OSS_SIDECAR_ADMISSION__MAX_QUEUE": "4096", "OSS_SIDECAR_ADMISSION__QUEUE_TIMEOUT_S": "600",
           "OSS_SIDECAR_EMBEDDINGS__ENABLED": "false", **(extra_env or {})}
    cmd = [sys.executable, "-m", "gateway.cli", "serve", "--engine", "vllm", "--model", str(model),
           "--port", str(args.gateway_port)]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 420) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"{log.name}: exited {proc.returncode}\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{log.name}: not ready after {timeout:.0f} s\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    """The whole process group (engine core and GPU workers are children)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def load(url: str, model: Path, conc: int, prompts: int, seed: int, args) -> dict:
    """One `vllm bench serve` run (random prompts of this seed) against url."""
    from vllm.benchmarks.serve import add_cli_args, main_async
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser()
    add_cli_args(parser)
    bench = parser.parse_args([
        "--backend", "openai-chat", "--base-url", url, "--endpoint", "/v1/chat/completions",
        "--model", model.name, "--tokenizer", str(model), "--dataset-name", "random",
        "--random-input-len", str(args.input_len), "--random-output-len", str(args.output_len),
        "--ignore-eos", "--num-prompts", str(prompts), "--max-concurrency", str(conc),
        "--seed", str(seed), "--percentile-metrics", "ttft,tpot,itl,e2el", "--disable-tqdm",
        "--temperature", "0"])
    return await main_async(bench)


FIGURES = ("output_throughput", "median_ttft_ms", "p99_ttft_ms", "median_itl_ms")


def spread(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def summary(rows: list[dict]) -> str:
    out = ["| concurrency | server | output tok/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | rounds |",
           "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    ratios = []
    for conc in sorted({r["conc"] for r in rows}):
        for server, label in (("peer", "vllm serve"), ("gateway", "gateway")):
            rs = [r for r in rows if r["conc"] == conc and r["server"] == server]
            if not rs:
                continue
            cells = [spread([r[f] for r in rs], ".0f" if f == "output_throughput" else ".1f" if "ttft" in f
                            else ".2f") for f in FIGURES]
            out.append(f"| {conc} | {label} | " + " | ".join(cells) + f" | {len(rs)} |")
        pairs = {}
        for r in rows:
            if r["conc"] == conc:
                pairs.setdefault(r["round"], {})[r["server"]] = r
        tp = [p["gateway"]["output_throughput"] / p["peer"]["output_throughput"]
              for p in pairs.values() if len(p) == 2]
        ttft = [p["gateway"]["median_ttft_ms"] / p["peer"]["median_ttft_ms"] for p in pairs.values() if len(p) == 2]
        if tp:
            ratios.append(f"| {conc} | {spread(tp, '.3f')} | {spread(ttft, '.2f')} |")
    out += ["", "| concurrency | gateway/peer tok/s, per round | gateway/peer TTFT p50 |", "| ---: | ---: | ---: |"]
    return "\n".join(out + ratios)


async def measure(args, model: Path, urls: dict[str, str], results: Path) -> list[dict]:
    rows = []
    top = max(args.conc)
    for server, url in urls.items():  # warm-up, not recorded
        await load(url, model, top, top, 999, args)
    with (results / "results.jsonl").open("w") as f:
        for rnd in range(1, args.rounds + 1):
            order = list(urls) if rnd % 2 else list(urls)[::-1]
            for conc in args.conc:
                prompts = max(args.min_prompts, args.prompts_per_c * conc)
                for server in order:
                    r = await load(urls[server], model, conc, prompts, 1000 * rnd + conc, args)
                    row = {"server": server, "conc": conc, "round": rnd, "prompts": prompts,
                           "completed": r.get("completed"), **{k: r[k] for k in FIGURES}}
                    rows.append(row)
                    f.write(json.dumps(row) + "\n")
                    f.flush()
                    print(f"round {rnd} c={conc} {server}: {row['output_throughput']:.0f} tok/s, "
                          f"TTFT p50 {row['median_ttft_ms']:.1f} ms", flush=True)
    return rows


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.summary:
        rows = [json.loads(line) for line in (Path(args.summary) / "results.jsonl").open()]
        print(summary(rows))
        return
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    model = make_model(args)
    stop_servers_on_sigterm()
    procs = []
    try:
        ready = {}
        # One after the other: vLLM sizes its KV cache from the memory free while it profiles.
        p = start_peer(args, model, results / "peer-server.log")
        procs.append(p)
        ready["peer"] = wait_ready(f"http://127.0.0.1:{args.peer_port}", p, results / "peer-server.log")
        g = start_gateway(args, model, results / "gateway-server.log")
        procs.append(g)
        ready["gateway"] = wait_ready(f"http://127.0.0.1:{args.gateway_port}", g, results / "gateway-server.log")
        print(f"ready: peer {ready['peer']:.0f} s, gateway {ready['gateway']:.0f} s", flush=True)
        urls = {"peer": f"http://127.0.0.1:{args.peer_port}", "gateway": f"http://127.0.0.1:{args.gateway_port}"}
        rows = asyncio.run(measure(args, model, urls, results))
    finally:
        for p in procs:
            stop(p)
    from importlib.metadata import version

    meta = {"vllm": version("vllm"), "shape": args.shape, "tp": args.tp, "gpu_util_each": args.gpu_util,
            "max_model_len": args.max_model_len, "max_num_seqs": args.max_num_seqs, "input_len": args.input_len,
            "output_len": args.output_len, "rounds": args.rounds, "prompts_per_c": args.prompts_per_c,
            "time_to_ready_s": ready, "command": " ".join(sys.argv)}
    (results / "meta.json").write_text(json.dumps(meta, indent=1))
    table = summary(rows)
    (results / "summary.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
