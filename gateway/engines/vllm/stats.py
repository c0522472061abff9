"""What the vllm engine reports in stats: vLLM's stat-logger feed and per-GPU memory via NVML.

vLLM is imported only when the stat-logger class is made (at engine start); NVML is opened at
the first read.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Optional

# One logger for the whole engine package: log lines read `gateway.engines.vllm: ...`.
log = logging.getLogger("gateway.engines.vllm")


class StatsState:
    """Fed by vLLM's stat-logger hook on every engine step (in the event loop thread)."""

    def __init__(self) -> None:
        self.running = 0
        self.waiting = 0
        self.kv_cache_usage: Optional[float] = None
        self.counters: dict[str, float] = {
            "prompt_tokens_total": 0, "generation_tokens_total": 0, "request_success_total": 0,
            "num_preemptions_total": 0, "prefix_cache_queries_total": 0, "prefix_cache_hits_total": 0,
        }

    def record(self, scheduler_stats: Any, iteration_stats: Any) -> None:
        c = self.counters
        if scheduler_stats is not None:
            self.running = int(getattr(scheduler_stats, "num_running_reqs", 0))
            self.waiting = int(getattr(scheduler_stats, "num_waiting_reqs", 0))
            self.kv_cache_usage = float(getattr(scheduler_stats, "kv_cache_usage", 0.0))
            pcs = getattr(scheduler_stats, "prefix_cache_stats", None)
            if pcs is not None:
                c["prefix_cache_queries_total"] += getattr(pcs, "queries", 0)
                c["prefix_cache_hits_total"] += getattr(pcs, "hits", 0)
        if iteration_stats is not None:
            c["generation_tokens_total"] += getattr(iteration_stats, "num_generation_tokens", 0)
            c["prompt_tokens_total"] += getattr(iteration_stats, "num_prompt_tokens", 0)
            c["num_preemptions_total"] += getattr(iteration_stats, "num_preempted_reqs", 0)
            for fin in getattr(iteration_stats, "finished_requests", ()) or ():
                reason = str(getattr(fin, "finish_reason", "")).lower().split(".")[-1] or "unknown"
                key = f"request_finished_{reason}_total"
                c[key] = c.get(key, 0) + 1
                c["request_success_total"] += 1


def make_stat_logger_factory(state: StatsState) -> Any:
    """A vLLM stat-logger class (vLLM builds one per engine core) that feeds `state`."""
    from vllm.v1.metrics.loggers import StatLoggerBase

    class GatewayStatLogger(StatLoggerBase):
        def __init__(self, vllm_config: Any, engine_index: int = 0):
            self.engine_index = engine_index

        def record(self, scheduler_stats: Any, iteration_stats: Any, mm_cache_stats: Any = None,
                   engine_idx: int = 0) -> None:
            state.record(scheduler_stats, iteration_stats)

        def log_engine_initialized(self) -> None:
            pass

    return GatewayStatLogger


class GpuMemory:
    """Per-GPU memory through NVML (no CUDA context in the gateway's process)."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: list[tuple[str, Any]] = []
        self._failed = False

    def _init(self) -> None:
        try:
            try:
                from vllm.third_party import pynvml as nvml
            except ImportError:
                import pynvml as nvml  # nvidia-ml-py
            nvml.nvmlInit()
            count = nvml.nvmlDeviceGetCount()
            cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
            if cvd is not None and cvd.strip() != "":
                ids = [x.strip() for x in cvd.split(",") if x.strip()]
            else:
                ids = [str(i) for i in range(count)]
            for cuda_idx, dev in enumerate(ids):
                h = (nvml.nvmlDeviceGetHandleByIndex(int(dev)) if dev.isdigit()
                     else nvml.nvmlDeviceGetHandleByUUID(dev))
                name = nvml.nvmlDeviceGetName(h)
                name = name.decode() if isinstance(name, bytes) else name
                self._handles.append((f"cuda:{cuda_idx} {name}", h))
            self._nvml = nvml
        except Exception as exc:
            log.debug("NVML unavailable: %s", exc)
            self._failed = True

    def read(self) -> list[dict[str, Any]]:
        if self._nvml is None and not self._failed:
            self._init()
        out = []
        for name, h in self._handles:
            try:
                mem = self._nvml.nvmlDeviceGetMemoryInfo(h)
                out.append({"name": name, "used_bytes": int(mem.used), "total_bytes": int(mem.total)})
            except Exception:
                continue
        return out
