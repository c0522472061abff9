"""The cost of constrained decoding on vLLM, the gateway beside vLLM's own server: each server in
turn alone on the GPU, started as bench/gpu_compare.py starts them (same model folder, same engine
arguments), then bench/constrained_decoding.py against it.

    python bench/constrained_gpu.py gateway:xgrammar vllm:xgrammar gateway:guidance vllm:guidance \\
        [--shape llama8b] [--rounds 8] [--concurrency 16] [--max-tokens 256] [--results DIR]

A server is `gateway:BACKEND` (the gateway with vllm.structured_outputs.backend BACKEND) or
`vllm:BACKEND` (`vllm serve --structured-outputs-config` with that backend); both without free
whitespace in JSON, the gateway's default. Runs on the GPU machine after `. /tmp/vllm-env.sh`;
writes KIND-BACKEND.md (the table) and KIND-BACKEND.log (the server's log) per server to
--results ($OUT by default).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import gpu_compare

HERE = Path(__file__).resolve().parent
KINDS = ("gateway", "vllm")


def server(spec: str) -> tuple[str, str]:
    kind, _, backend = spec.partition(":")
    if kind not in KINDS or not backend:
        raise argparse.ArgumentTypeError(f"{spec!r}: give gateway:BACKEND or vllm:BACKEND")
    return kind, backend


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("servers", nargs="+", type=server, metavar="KIND:BACKEND")
    ap.add_argument("--shape", default="llama8b", help="make-dummy-model.py shape")
    ap.add_argument("--model-dir", help="model folder (default /tmp/<shape>)")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--results", default=os.environ.get("OUT", "bench/results/raw"))
    args = ap.parse_args(argv)
    # One server at a time: each may take vLLM's usual share of the GPU, not gpu_compare's half.
    engine = gpu_compare.parse_args(["--shape", args.shape, "--gpu-util", "0.9", "--results", args.results,
                                     *(["--model-dir", args.model_dir] if args.model_dir else [])])
    model = gpu_compare.make_model(engine)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    gpu_compare.stop_servers_on_sigterm()
    for kind, backend in args.servers:
        log = results / f"{kind}-{backend}.log"
        if kind == "gateway":
            proc = gpu_compare.start_gateway(engine, model, log,
                                             {"OSS_SIDECAR_VLLM__STRUCTURED_OUTPUTS__BACKEND": backend})
            port = engine.gateway_port
        else:
            config = json.dumps({"backend": backend, "disable_any_whitespace": True})
            proc = gpu_compare.start_peer(engine, model, log, ["--structured-outputs-config", config])
            port = engine.peer_port
        try:
            url = f"http://127.0.0.1:{port}"
            gpu_compare.wait_ready(url, proc, log)
            table = subprocess.run(
                [sys.executable, str(HERE / "constrained_decoding.py"), "--url", url, "--rounds", str(args.rounds),
                 "--concurrency", str(args.concurrency), "--max-tokens", str(args.max_tokens)],
                check=True, stdout=subprocess.PIPE, text=True,
            ).stdout
        except (SystemExit, subprocess.CalledProcessError) as exc:  # say so, go on with the next server
            print(f"{kind}:{backend} failed: {exc}", file=sys.stderr, flush=True)
            continue
        finally:
            gpu_compare.stop(proc)
        (results / f"{kind}-{backend}.md").write_text(table)
        print(f"{kind}:{backend}\n{table}", flush=True)


if __name__ == "__main__":
    main()
