#!/usr/bin/env bash
# Side-by-side benchmark on a GPU machine: the gateway (vllm engine, in-process AsyncLLM) against
# vLLM's own OpenAI server (`vllm serve`), same model folder, same engine arguments, same load
# from `vllm bench serve` (random dataset, --ignore-eos). Runs from the repo root after
# `. /tmp/vllm-env.sh` (see ../shared/device/README.md); the helper scripts come from
# $STAGE (/tmp/vllm-stage: make-dummy-model.py, serve-bench.sh).
#
#   bench/gpu_compare.sh peer            # start `vllm serve`, time to ready, load at $CONC, stop it
#   bench/gpu_compare.sh gateway         # the same for `python -m gateway.cli serve --engine vllm`
#   bench/gpu_compare.sh both            # peer, then gateway (one GPU set, one after the other)
#   bench/gpu_compare.sh summary [DIR]   # markdown table from the JSON results in DIR
#
# Env: MODEL_DIR (/tmp/m8, made with SHAPE=llama8b if missing), TP (2), MAX_MODEL_LEN (4096),
# GPU_UTIL (0.92), MAX_NUM_SEQS (128), CONC ("1 16 64"), IN / OUTLEN (vllm bench: 1024 / 256 here),
# RESULTS ($OUT or bench/results/raw), PROFILE=1 samples the gateway with py-spy during the
# highest concurrency (py-spy must be importable/installed), PEER_PORT (8100), GW_PORT (8200).
set -euo pipefail
SUMMARY_DIR=${2:+$(realpath "$2")}
cd "$(dirname "$0")/.."
STAGE=${STAGE:-/tmp/vllm-stage}
MODEL_DIR=${MODEL_DIR:-/tmp/m8}
SHAPE=${SHAPE:-llama8b}
TP=${TP:-2}
MAX_MODEL_LEN=${MAX_MODEL_LEN:-4096}
GPU_UTIL=${GPU_UTIL:-0.92}
MAX_NUM_SEQS=${MAX_NUM_SEQS:-128}
CONC=${CONC:-1 16 64}
export IN=${IN:-1024} OUTLEN=${OUTLEN:-256}
export RESULTS=${RESULTS:-${OUT:-bench/results/raw}}
PEER_PORT=${PEER_PORT:-8100}
GW_PORT=${GW_PORT:-8200}
mkdir -p "$RESULTS"

model() {
  [ -f "$MODEL_DIR/config.json" ] || python3 "$STAGE/make-dummy-model.py" "$SHAPE" "$MODEL_DIR" >/dev/null
}

wait_ready() {  # URL PID NAME LOG T0 -> prints seconds since T0 (date +%s.%N at launch)
  local url=$1 pid=$2 name=$3 logf=$4 t0=$5
  until curl -sf "$url/health" >/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "$name died:"; tail -30 "$logf"; return 1; fi
    sleep 0.5
    python3 -c "import sys,time; sys.exit(time.time() - $t0 > 480)" || { echo "$name not ready"; tail -30 "$logf"; return 1; }
  done
  python3 -c "import time; print(round(time.time() - $t0, 1))"
}

stop_group() {  # PID: the whole process group (engine core, workers)
  kill -TERM -- "-$1" 2>/dev/null || true
  for _ in $(seq 40); do kill -0 "$1" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$1" 2>/dev/null || true
  sleep 3  # GPU memory back
}

meta() {  # NAME READY_S
  python3 - "$1" "$2" <<'PY'
import json, os, sys
name, ready = sys.argv[1], float(sys.argv[2])
from importlib.metadata import version
meta = {"name": name, "time_to_ready_s": ready, "vllm": version("vllm"), "tp": int(os.environ.get("TP", 2)),
        "in": int(os.environ["IN"]), "out": int(os.environ["OUTLEN"]),
        "engine_args": {"max_model_len": int(os.environ.get("MAX_MODEL_LEN", 4096)),
                        "gpu_memory_utilization": float(os.environ.get("GPU_UTIL", 0.92)),
                        "max_num_seqs": int(os.environ.get("MAX_NUM_SEQS", 128)),
                        "enable_prefix_caching": True, "load_format": "dummy"}}
with open(os.path.join(os.environ["RESULTS"], f"{name}-meta.json"), "w") as f:
    json.dump(meta, f, indent=1)
PY
}

run_peer() {
  model
  local logf="$RESULTS/peer-server.log" t0 pid ready
  t0=$(date +%s.%N)
  setsid python3 -m vllm.entrypoints.cli.main serve "$MODEL_DIR" --load-format dummy --host 127.0.0.1 \
    --port "$PEER_PORT" --served-model-name "$(basename "$MODEL_DIR")" --tensor-parallel-size "$TP" \
    --max-model-len "$MAX_MODEL_LEN" --gpu-memory-utilization "$GPU_UTIL" --max-num-seqs "$MAX_NUM_SEQS" \
    --enable-prefix-caching >"$logf" 2>&1 &
  pid=$!
  ready=$(wait_ready "http://127.0.0.1:$PEER_PORT" "$pid" peer "$logf" "$t0") || { echo "$ready"; stop_group "$pid"; return 1; }
  echo "peer (vllm serve) ready in $ready s"
  meta peer "$ready"
  # shellcheck disable=SC2086
  bash "$STAGE/serve-bench.sh" load peer "http://127.0.0.1:$PEER_PORT" "$MODEL_DIR" $CONC
  stop_group "$pid"
}

run_gateway() {
  model
  local logf="$RESULTS/gateway-server.log" t0 pid ready top spy
  t0=$(date +%s.%N)
  OSS_SIDECAR_VLLM__LOAD_FORMAT=dummy OSS_SIDECAR_VLLM__TENSOR_PARALLEL_SIZE=$TP \
  OSS_SIDECAR_VLLM__MAX_MODEL_LEN=$MAX_MODEL_LEN OSS_SIDECAR_VLLM__GPU_MEMORY_UTILIZATION=$GPU_UTIL \
  OSS_SIDECAR_VLLM__MAX_NUM_SEQS=$MAX_NUM_SEQS OSS_SIDECAR_VLLM__ENABLE_PREFIX_CACHING=true \
  OSS_SIDECAR_ADMISSION__MAX_CONCURRENCY=$MAX_NUM_SEQS OSS_SIDECAR_ADMISSION__MAX_QUEUE=1024 \
  OSS_SIDECAR_ADMISSION__QUEUE_TIMEOUT_S=600 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" \
    setsid python3 -m gateway.cli serve --engine vllm --model "$MODEL_DIR" --port "$GW_PORT" >"$logf" 2>&1 &
  pid=$!
  ready=$(wait_ready "http://127.0.0.1:$GW_PORT" "$pid" gateway "$logf" "$t0") || { echo "$ready"; stop_group "$pid"; return 1; }
  echo "gateway ready in $ready s"
  meta gateway "$ready"
  # shellcheck disable=SC2086
  bash "$STAGE/serve-bench.sh" load gateway "http://127.0.0.1:$GW_PORT" "$MODEL_DIR" $CONC
  curl -s "http://127.0.0.1:$GW_PORT/v1/stats" >"$RESULTS/gateway-stats.json" || true
  if [ "${PROFILE:-0}" = 1 ]; then
    # An extra, unmeasured run at the highest concurrency while py-spy samples the gateway's
    # process (the API process only: the engine core and GPU workers are other processes).
    top=$(echo $CONC | tr ' ' '\n' | sort -n | tail -1)
    spy=${PYSPY:-$(command -v py-spy || echo /tmp/extra/bin/py-spy)}
    "$spy" record --pid "$pid" --rate 250 --format raw --nonblocking -o "$RESULTS/gateway-pyspy.txt" \
      >"$RESULTS/pyspy.log" 2>&1 & local spid=$!
    RESULTS="$RESULTS/profiled" bash "$STAGE/serve-bench.sh" load gateway "http://127.0.0.1:$GW_PORT" "$MODEL_DIR" "$top"
    kill -INT "$spid" 2>/dev/null || true; wait "$spid" || true
  fi
  stop_group "$pid"
}

summary() {
  python3 - "${1:-$RESULTS}" <<'PY'
import glob, json, os, sys
d = sys.argv[1]
rows = []
for name in ("peer", "gateway"):
    meta = {}
    if os.path.exists(os.path.join(d, f"{name}-meta.json")):
        meta = json.load(open(os.path.join(d, f"{name}-meta.json")))
    for f in sorted(glob.glob(os.path.join(d, f"{name}-c*.json")), key=lambda p: int(p.rsplit("-c", 1)[1][:-5])):
        r = json.load(open(f))
        c = int(f.rsplit("-c", 1)[1][:-5])
        rows.append((name, c, r, meta))
label = {"peer": "vLLM serve", "gateway": "gateway"}
print("| server | concurrency | requests ok | output tok/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | time to ready s |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
by = {}
for name, c, r, meta in rows:
    by[(name, c)] = r
    print(f"| {label[name]} | {c} | {r.get('completed')}/{r.get('num_prompts', r.get('completed'))} | "
          f"{r['output_throughput']:.0f} | {r['median_ttft_ms']:.1f} | {r['p99_ttft_ms']:.1f} | "
          f"{r['median_itl_ms']:.2f} | {meta.get('time_to_ready_s', '')} |")
for c in sorted({c for _, c, _, _ in rows}):
    if ("peer", c) in by and ("gateway", c) in by:
        p, g = by[("peer", c)], by[("gateway", c)]
        print(f"\nc={c}: gateway/peer throughput {g['output_throughput'] / p['output_throughput']:.3f}x, "
              f"TTFT p50 {g['median_ttft_ms']:.1f} vs {p['median_ttft_ms']:.1f} ms", end="")
print()
PY
}

case "${1:-}" in
  peer) run_peer ;;
  gateway) run_gateway ;;
  both) run_peer; run_gateway; summary ;;
  summary) summary "${SUMMARY_DIR:-$RESULTS}" ;;
  *) sed -n 2,17p "$0"; exit 2 ;;
esac
