"""Times a decode step of the model with each candidate thread count, in a child process.

A child because loading an xllamacpp Server holds the GIL for about a second (the gateway's
event loop would stop answering) and because its memory leaves with it. For each count it loads
a small Server (one slot of PROBE_CONTEXT tokens, no prompt cache; the model file's pages are
shared with the gateway's), warms it up, then generates `tokens` tokens `rounds` times, the
counts' order rotating every round, and prints llama.cpp's own decode rate (`timings`'
predicted_per_second) per count as JSON: {"1": [58.1, 57.3, ...], "2": [...]}.

    python -m gateway.engines.llamacpp.thread_probe MODEL --candidates 1 2 --threads-batch 2

`probe()` runs it from the engine and kills it when cancelled (a request arrived).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

PROBE_CONTEXT = 256
PROBE_PROMPT = "Once upon a time"


def _server(model: str, n_threads: int, threads_batch: int, n_gpu_layers: int) -> Any:
    import xllamacpp as xl

    from gateway.engines.llamacpp.listener import PrivateListener

    params = xl.CommonParams()
    params.model.path = model
    params.n_parallel = 1
    params.n_ctx = PROBE_CONTEXT
    params.cache_ram_mib = 0
    params.verbosity = -1
    params.n_gpu_layers = n_gpu_layers
    params.cpuparams.n_threads = n_threads
    params.cpuparams_batch.n_threads = threads_batch
    PrivateListener().configure(params)  # every Server listens; this one privately too
    return xl.Server(params)


def _decode_rate(server: Any, tokens: int) -> float:
    body = {"prompt": PROBE_PROMPT, "n_predict": tokens, "ignore_eos": True, "temperature": 0, "stream": False}
    answer = server.handle_completions(body)
    return float(answer["timings"]["predicted_per_second"])


def measure(model: str, candidates: list[int], threads_batch: int, tokens: int, rounds: int,
            n_gpu_layers: int = 0) -> dict[int, list[float]]:
    servers = {n: _server(model, n, threads_batch, n_gpu_layers) for n in candidates}
    for server in servers.values():
        _decode_rate(server, 4)  # warm-up: first touches of the weights and buffers
    rates: dict[int, list[float]] = {n: [] for n in candidates}
    for r in range(rounds):
        k = r % len(candidates)
        for n in candidates[k:] + candidates[:k]:
            rates[n].append(_decode_rate(servers[n], tokens))
    return rates


async def probe(model: str, candidates: list[int], threads_batch: int, tokens: int, rounds: int,
                n_gpu_layers: int, spin_count: str | None) -> dict[int, list[float]]:
    """measure() in a child process with the gateway's OpenMP spin count; killed if cancelled."""
    env = dict(os.environ)
    if spin_count is not None:
        env["GOMP_SPINCOUNT"] = spin_count
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.engines.llamacpp.thread_probe", model,
        "--candidates", *map(str, candidates), "--threads-batch", str(threads_batch),
        "--tokens", str(tokens), "--rounds", str(rounds), "--n-gpu-layers", str(n_gpu_layers),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    try:
        out, err = await proc.communicate()
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"thread probe exited with {proc.returncode}: {err.decode(errors='replace')[-500:]}")
    return {int(n): rates for n, rates in json.loads(out.decode().strip().splitlines()[-1]).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--candidates", type=int, nargs="+", required=True)
    parser.add_argument("--threads-batch", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n-gpu-layers", type=int, default=0)
    args = parser.parse_args()
    rates = measure(args.model, args.candidates, args.threads_batch, args.tokens, args.rounds, args.n_gpu_layers)
    print(json.dumps(rates), flush=True)


if __name__ == "__main__":
    main()
