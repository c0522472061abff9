"""The `llamacpp` settings section: the embedded engine's slots, threads, model checks and template."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from gateway.settings_section import Section


class LlamaCppSettings(Section):
    # Parallel sequences (llama.cpp slots); each gets context_per_slot tokens of KV cache.
    n_parallel: int = Field(4, ge=1, le=64)
    context_per_slot: int = Field(8192, ge=256)
    # CPU threads llama.cpp generates with, one token of one stream at a time; 0 = half the
    # CPUs this process may use, at least 1 (llama.cpp's own default is every physical core).
    # llama.cpp's threads wait for each other at every step, so when another program holds
    # one of their cores, all of them wait: on a shared machine fewer threads are much faster.
    n_threads: int = Field(0, ge=0)
    # CPU threads for a batch of several tokens (a prompt, or one step of several streams,
    # where a second thread pays off); 0 = every CPU this process may use.
    n_threads_batch: int = Field(0, ge=0)
    # How long llama.cpp's threads spin waiting for each other at each step before they sleep,
    # in spins of OpenMP's wait loop (GOMP_SPINCOUNT). libgomp's own default, 300000, is
    # milliseconds: a thread whose partner lost its core to another program burns its own
    # core meanwhile. Empty: libgomp's default (or GOMP_SPINCOUNT from the environment).
    spin_count: Optional[int] = Field(1000, ge=0)
    # GPU layers when xllamacpp was built with a GPU backend; 0 on CPU.
    n_gpu_layers: int = Field(0, ge=-1)
    # Check the default model's sha256 before the first load.
    verify_model: bool = True
    # llama.cpp log verbosity (-1 = quiet but errors, 3 = everything).
    log_verbosity: int = Field(-1, ge=-1, le=4)
    # A Jinja chat template file used instead of the model's own (e.g. one that renders tools).
    # Empty: the model's own; for the default model, its own template extended with tools
    # (gateway/engines/templates/smollm2-tools.jinja).
    chat_template_file: Optional[str] = None
    # RAM for llama.cpp's prompt cache (finished sequences' KV cache, reused by later prompts
    # that share a prefix), in MiB; 0 turns it off. xllamacpp's own default is 8 GiB.
    cache_ram_mib: int = Field(512, ge=0, le=1 << 20)
    # Stretch the model's trained context this many times by YaRN RoPE scaling (llama.cpp's
    # --rope-scaling yarn --rope-scale N); llama.cpp caps a slot at the trained context
    # otherwise. 1: off. For agents whose prompts outgrow a small model's window.
    rope_scale: float = Field(1.0, ge=1.0, le=64.0)
