"""The `llamacpp` engine (the default): llama.cpp in-process through xllamacpp, for machines
without a GPU.

One file per concern: settings.py (the `llamacpp` settings section), engine.py
(`LlamaCppEngine`), translate.py (a request as llama.cpp's body; its logprobs and errors back),
tools.py (tool definitions and streamed tool-call pieces), tokenizer.py (the model's tokenizer
and chat template), threads.py (CPU threads, OpenMP's spin count), thread_tuner.py (the thread
count chosen by measurement while idle: cpu_contention.py says when to measure, thread_probe.py
times the counts in a child process, serving_gate.py holds requests while the server restarts,
slot_cache.py keeps the slots' KV cache across it),
stats.py (llama.cpp's Prometheus counters, this process's memory), doctor.py (`oss-sidecar
doctor`'s lines).

The same xllamacpp Server also listens with llama.cpp's own HTTP API, which we use for
tokenization and chat templates (the model's own, from its GGUF metadata); xllamacpp has no
in-process call for those. That listener must not be a second door to the model (no key, no
admission, CORS for any origin): listener.py puts it on a Unix socket in a private directory
(mode 0700, so no web page, LAN host or other local user can connect) behind a random key only
this process knows; the embedding model (gateway/embeddings/llamacpp.py) uses it too.
Nothing here imports xllamacpp at import time (OpenMP's spin count must be set first).
"""
from __future__ import annotations

from gateway.engines.llamacpp.doctor import doctor
from gateway.engines.llamacpp.engine import LlamaCppEngine
from gateway.engines.llamacpp.settings import LlamaCppSettings
from gateway.engines.registry import EngineSpec

ENGINE = EngineSpec(
    name="llamacpp",
    summary="embedded llama.cpp (xllamacpp) on the CPU; any GGUF, SmolLM2-135M-Instruct by default",
    settings=LlamaCppSettings,
    build=LlamaCppEngine,
    doctor=doctor,
)
