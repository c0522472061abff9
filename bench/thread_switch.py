"""What changing llama.cpp's thread count on a running embedded engine would cost, with what
xllamacpp offers: no call reaches `llama_set_n_threads` on the server's context, so the two
ways left are measured here, in one process, on the default model.

- `restart`: a new xllamacpp Server per thread count (load time, then one stream's decode
  rate with that count; 2 threads for batches either way).
- `affinity`: one Server with 2 threads for everything, its threads' CPU affinity changed at
  run time: `spread` (every CPU), `pack<N>` (all on CPU N). OpenMP keeps its team of two
  threads; only where they may run changes.

- `prefill`: what a restart costs the next request (llama.cpp's prompt cache is lost): the
  prompt time of the same long prompt (a code completion's context) on a fresh server, again
  (cached), after a restart of the server, and after a restart that saved the slot's KV cache
  and restored it into the new server (the engine's switch, gateway/engines/llamacpp/slot_cache.py),
  as llama.cpp's `timings` report it.

    python bench/thread_switch.py restart|affinity|prefill [--contention none one-core half-both] [--rounds 3]

Figures are median (min–max) over rounds; streams of 96 tokens with `ignore_eos`.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("GOMP_SPINCOUNT", "1000")  # the gateway's default spin_count; read once by libgomp

import xllamacpp as xl  # noqa: E402

from cpu_load import CONDITIONS, CpuLoad  # noqa: E402
from gateway_vs_llamacpp import spread  # noqa: E402
from llamacpp_peer import peer_params  # noqa: E402
from gateway.engines.default_model import default_model_path  # noqa: E402

BODY = {"prompt": "Once upon a time", "n_predict": 96, "ignore_eos": True, "stream": True, "temperature": 0}


def server(n_threads: int, n_threads_batch: int = 2):
    """The benchmark's llama.cpp peer (4 slots of 8192 tokens) with these thread counts."""
    params = peer_params(str(default_model_path()), 4, 8192, quiet=True)
    params.cpuparams.n_threads = n_threads
    params.cpuparams_batch.n_threads = n_threads_batch
    return xl.Server(params)


def tokens_per_s(srv, streams: int) -> float:
    counts = [0] * streams

    def one(i: int) -> None:
        def on_chunk(_chunk) -> bool:
            counts[i] += 1
            return False
        srv.handle_completions(dict(BODY), on_chunk)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(streams)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


def restart(args) -> None:
    print("| contention | threads per token | Server() load, s | 1 stream tok/s |")
    print("|---|---:|---:|---:|")
    for condition in args.contention:
        loads: dict[int, list[float]] = {1: [], 2: []}
        rates: dict[int, list[float]] = {1: [], 2: []}
        with CpuLoad(condition):
            time.sleep(1)
            for _ in range(args.rounds):
                for n in (1, 2):
                    start = time.perf_counter()
                    srv = server(n)
                    loads[n].append(time.perf_counter() - start)
                    tokens_per_s(srv, 1)  # warm-up
                    rates[n].append(tokens_per_s(srv, 1))
                    del srv
        for n in (1, 2):
            print(f"| {condition} | {n} | {spread(loads[n], digits=2)} | {spread(rates[n])} |", flush=True)


def private_server(n_threads: int, listener):
    """server(), its listener private with /slots on (as the gateway's engine has it)."""
    params = peer_params(str(default_model_path()), 4, 8192, quiet=True)
    params.cpuparams.n_threads = n_threads
    params.cpuparams_batch.n_threads = 2
    listener.configure(params)
    return xl.Server(params)


def restored_ms(prompt: str) -> tuple[float, float]:
    """(the prompt's time after a restart that kept the slot's cache, the save and restore's seconds)."""
    import asyncio

    from gateway.engines.llamacpp.listener import PrivateListener
    from gateway.engines.llamacpp.slot_cache import SlotCache

    cache = SlotCache(4)
    old = PrivateListener(slots=True)
    srv = private_server(1, old)
    prompt_ms(srv, prompt)
    start = time.perf_counter()
    kept = asyncio.run(cache.save(old))
    spent = time.perf_counter() - start
    del srv
    old.remove()
    new = PrivateListener(slots=True)
    srv = private_server(2, new)
    start = time.perf_counter()
    asyncio.run(cache.restore(new, kept))
    spent += time.perf_counter() - start
    ms = prompt_ms(srv, prompt)
    del srv
    new.remove()
    return ms, spent


def prompt_ms(srv, prompt: str) -> float:
    answer = srv.handle_completions({"prompt": prompt, "n_predict": 1, "temperature": 0, "cache_prompt": True})
    return float(answer["timings"]["prompt_ms"])


def prefill(args) -> None:
    # About 2,000 tokens of source text: a code completion's context window of a file.
    source = (ROOT / "gateway" / "engines" / "llamacpp" / "engine.py").read_text()[:7000]
    print("| contention | prompt tokens | fresh server, ms | same prompt again (cached), ms | after a restart, ms "
          "| restart (`Server()`), s | after a restart keeping the slot, ms | its save + restore, s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for condition in args.contention:
        cold: list[float] = []
        cached: list[float] = []
        after: list[float] = []
        loads: list[float] = []
        kept: list[float] = []
        kept_s: list[float] = []
        with CpuLoad(condition):
            time.sleep(1)
            for r in range(args.rounds):
                srv = server(1)
                prompt = f"# round {r}\n" + source  # a prompt no earlier round cached
                cold.append(prompt_ms(srv, prompt))
                cached.append(prompt_ms(srv, prompt))
                start = time.perf_counter()
                del srv
                srv = server(2)  # the switch: the old server goes, a new one with another count loads
                loads.append(time.perf_counter() - start)
                after.append(prompt_ms(srv, prompt))
                del srv
                ms, spent = restored_ms(prompt + " ")  # its own prompt: nothing cached from above
                kept.append(ms)
                kept_s.append(spent)
        n = srv_tokens(source)
        print(f"| {condition} | {n} | {spread(cold, digits=0)} | {spread(cached, digits=0)} | "
              f"{spread(after, digits=0)} | {spread(loads, digits=2)} | {spread(kept, digits=0)} | "
              f"{spread(kept_s, digits=3)} |", flush=True)


def srv_tokens(text: str) -> int:
    srv = server(1)
    answer = srv.handle_completions({"prompt": text, "n_predict": 1, "temperature": 0})
    return int(answer["usage"]["prompt_tokens"])


def set_affinity(cpus: set[int]) -> None:
    """Every thread of this process, llama.cpp's and OpenMP's included (new ones inherit it)."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:  # the thread ended meanwhile
            pass


def affinity(args) -> None:
    allowed = sorted(os.sched_getaffinity(0))
    modes = {"spread": set(allowed), **{f"pack{c}": {c} for c in allowed[:2]}}
    srv = server(2)
    tokens_per_s(srv, 1)  # warm-up
    print("| contention | streams | " + " | ".join(f"{m} tok/s" for m in modes) + " |")
    print("|---|---:|" + "---:|" * len(modes))
    for condition in args.contention:
        with CpuLoad(condition):
            time.sleep(1)
            for streams in (1, 4):
                rates: dict[str, list[float]] = {m: [] for m in modes}
                for _ in range(args.rounds):
                    for mode, cpus in modes.items():
                        set_affinity(cpus)
                        rates[mode].append(tokens_per_s(srv, streams))
                set_affinity(set(allowed))
                print(f"| {condition} | {streams} | " + " | ".join(spread(rates[m]) for m in modes) + " |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("way", choices=("restart", "affinity", "prefill"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--contention", nargs="+", choices=CONDITIONS, default=["none"])
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} at the start, {len(os.sched_getaffinity(0))} CPUs, "
          f"GOMP_SPINCOUNT={os.environ['GOMP_SPINCOUNT']}\n")
    {"restart": restart, "affinity": affinity, "prefill": prefill}[args.way](args)


if __name__ == "__main__":
    main()
