#!/usr/bin/env bash
# The cost of constrained decoding on vLLM (GPU machine, after `. /tmp/vllm-env.sh`): for each
# server in turn, alone on the GPU, bench/constrained_decoding.py at 16 concurrent streams.
#   bash bench/constrained_gpu.sh MODEL_DIR SERVER...
# SERVER: `gateway:BACKEND` (the gateway, vllm.structured_outputs.backend BACKEND, compact JSON)
# or `vllm:BACKEND` (vLLM's own server, --structured-outputs-config with the same two settings).
# Same engine arguments for both (dummy weights, max_model_len 4096, 128 sequences, prefix
# caching). ROUNDS, CONC, MAX_TOKENS override 8, 16, 256. Logs and tables go to $OUT (or
# bench/results/raw).
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1; shift
out=${OUT:-bench/results/raw}; mkdir -p "$out"
port=8300
args=(--concurrency "${CONC:-16}" --rounds "${ROUNDS:-8}" --max-tokens "${MAX_TOKENS:-256}")
for server in "$@"; do
  kind=${server%%:*} backend=${server#*:}
  log="$out/$kind-$backend.log"
  if [ "$kind" = gateway ]; then
    env PYTHONPATH="$PWD:${PYTHONPATH:-}" OSS_SIDECAR_VLLM__LOAD_FORMAT=dummy \
      OSS_SIDECAR_VLLM__MAX_MODEL_LEN=4096 OSS_SIDECAR_VLLM__MAX_NUM_SEQS=128 \
      OSS_SIDECAR_VLLM__ENABLE_PREFIX_CACHING=true OSS_SIDECAR_ADMISSION__MAX_CONCURRENCY=128 \
      OSS_SIDECAR_VLLM__STRUCTURED_OUTPUTS__BACKEND="$backend" OSS_SIDECAR_EMBEDDINGS__ENABLED=false \
      setsid python3 -m gateway.cli serve --engine vllm --model "$model" --port "$port" >"$log" 2>&1 &
  else
    setsid python3 -m vllm.entrypoints.cli.main serve "$model" --load-format dummy --host 127.0.0.1 \
      --port "$port" --served-model-name "$(basename "$model")" --max-model-len 4096 --max-num-seqs 128 \
      --enable-prefix-caching \
      --structured-outputs-config "{\"backend\": \"$backend\", \"disable_any_whitespace\": true}" >"$log" 2>&1 &
  fi
  pid=$!
  python3 bench/constrained_decoding.py --url "http://127.0.0.1:$port" "${args[@]}" | tee "$out/$kind-$backend.md" \
    || tail -30 "$log"
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  sleep 3
done
