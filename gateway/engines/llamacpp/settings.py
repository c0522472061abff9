"""The `llamacpp` settings section: the embedded engine's slots, threads, model checks and template."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from gateway.settings_section import Section


class LlamaCppSettings(Section):
    # Parallel sequences (llama.cpp slots).
    n_parallel: int = Field(4, ge=1, le=64)
    # The window of one conversation, in tokens (prompt and answer).
    context_per_slot: int = Field(8192, ge=256)
    # The KV cache, in tokens, as one pool every slot draws from (llama.cpp's unified KV cache,
    # -c with --kv-unified): memory is paid for this many tokens, not n_parallel windows.
    # Empty: one window (context_per_slot). At least one window, at most n_parallel windows.
    context_total: Optional[int] = Field(None, ge=256)
    # The KV cache's number type (llama.cpp's --cache-type-k/-v): q8_0 halves its memory.
    cache_type: Literal["f16", "q8_0"] = "f16"
    # CPU threads llama.cpp generates with, one token of one stream at a time; 0 = chosen by
    # thread_tuning, starting at half the CPUs this process may use, at least 1 (llama.cpp's
    # own default is every physical core); a number turns thread_tuning off.
    # llama.cpp's threads wait for each other at every step, so when another program holds
    # one of their cores, all of them wait: on a shared machine fewer threads are much faster.
    n_threads: int = Field(0, ge=0)
    # With n_threads 0: choose the count by measurement, after the model loads and again when
    # other programs' CPU use has changed for a while, by timing a decode step with each
    # candidate count while no request runs, and restart the embedded server with the best
    # one while idle (thread_tuner.py). false: keep half the CPUs.
    thread_tuning: bool = True
    # The counts thread_tuning times; empty: every count up to 4 CPUs, beyond that the powers
    # of two, half the CPUs and all of them.
    thread_candidates: list[int] = Field(default_factory=list)
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

    @property
    def tunes_threads(self) -> bool:
        """Whether the thread count is measured (thread_tuning on and n_threads left at 0)."""
        return self.thread_tuning and self.n_threads == 0

    @property
    def kv_pool_tokens(self) -> int:
        """The KV pool's size in tokens (context_total, or one window when empty)."""
        return self.context_total or self.context_per_slot

    @model_validator(mode="after")
    def _candidates_are_counts(self) -> "LlamaCppSettings":
        if any(n < 1 for n in self.thread_candidates):
            raise ValueError(f"thread_candidates ({self.thread_candidates}): every count must be 1 or more")
        return self

    @model_validator(mode="after")
    def _pool_holds_a_window(self) -> "LlamaCppSettings":
        total = self.context_total
        if total is not None and total < self.context_per_slot:
            raise ValueError(
                f"context_total ({total}) is smaller than one conversation's window, "
                f"context_per_slot ({self.context_per_slot}): raise context_total to at "
                f"least {self.context_per_slot}, or leave it empty"
            )
        if total is not None and total > self.context_per_slot * self.n_parallel:
            raise ValueError(
                f"context_total ({total}) is more than n_parallel windows "
                f"({self.n_parallel} x {self.context_per_slot} = {self.n_parallel * self.context_per_slot}), "
                f"which is never used: lower it to at most that"
            )
        return self
