"""llama.cpp's own HTTP server for the benchmark to compare the gateway against.

The gateway's embedded llama.cpp listener is private (a Unix socket behind a key), so the
benchmark starts this peer instead: the same model and slots (parallel sequences and their
context) through xllamacpp, on a loopback TCP port, in its own process; everything else is
llama.cpp's own default, as `llama-server -m FILE -np N -c N*CTX` would run (its threads,
polling, batch sizes, prompt cache, log level: its logs go to stderr). It prints
`listening on <url>` once it serves.

    python bench/llamacpp_peer.py --n-parallel 4 [--context-per-slot 8192] [--kv-unified] [--n-threads N]
        [--model FILE.gguf]

tests/gateway/engines/test_upstream.py uses it too, as a foreign upstream.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def peer_params(model: str, n_parallel: int, context_per_slot: int, n_threads: int = 0, quiet: bool = False,
                kv_unified: bool = False):
    """xllamacpp's CommonParams as `llama-server -m MODEL -np N -c N*CTX [-t T]` sets them, or
    with kv_unified `llama-server -m MODEL -np N -c CTX --kv-unified` (one pool of CTX tokens
    that every slot shares, each slot up to all of it)."""
    import xllamacpp as xl

    params = xl.CommonParams()
    params.model.path = model
    params.n_parallel = n_parallel
    params.n_ctx = context_per_slot if kv_unified else context_per_slot * n_parallel
    params.kv_unified = kv_unified
    params.endpoint_metrics = True  # /metrics only answers; no cost per token
    if quiet:
        params.verbosity = -1
    params.hostnames = ["127.0.0.1"]
    if n_threads:
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = n_threads
    return params


def main() -> None:
    import xllamacpp as xl

    from gateway.engines.default_model import default_model_path

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="GGUF file; default: the gateway's default model")
    parser.add_argument("--n-parallel", type=int, default=4)
    parser.add_argument("--context-per-slot", type=int, default=8192)
    parser.add_argument("--n-threads", type=int, default=0, help="CPU threads; 0: llama.cpp's choice")
    parser.add_argument("--kv-unified", action="store_true",
                        help="one KV pool of --context-per-slot tokens shared by all slots (llama.cpp's --kv-unified)")
    parser.add_argument("--quiet", action="store_true", help="llama.cpp logs errors only (default: its own level)")
    args = parser.parse_args()

    params = peer_params(args.model or str(default_model_path()), args.n_parallel, args.context_per_slot,
                         args.n_threads, args.quiet, args.kv_unified)
    server = xl.Server(params)
    print(f"listening on {server.listening_address}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    del server


if __name__ == "__main__":
    main()
