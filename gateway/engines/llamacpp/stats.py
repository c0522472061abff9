"""What the llamacpp engine reports in stats: llama.cpp's Prometheus counters and this process's
memory (the model lives in it)."""
from __future__ import annotations

import os
from typing import Any

import psutil


def parse_prometheus(text: str) -> dict[str, float]:
    """llama.cpp's /metrics text as counters, without the `llamacpp:` prefix."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition(" ")
        try:
            out[name.removeprefix("llamacpp:")] = float(value)
        except ValueError:
            continue
    return out


def carried_totals(before: dict[str, float], last: dict[str, float]) -> dict[str, float]:
    """The `*_total` counters of a server about to be replaced, added to those of the servers
    before it: a restart (another thread count) must not turn them back to zero."""
    out = dict(before)
    for name, value in last.items():
        if name.endswith("_total"):
            out[name] = out.get(name, 0.0) + value
    return out


def cpu_device() -> dict[str, Any]:
    """The one device: this process's resident memory of the machine's."""
    process = psutil.Process(os.getpid())
    return {
        "name": "cpu",
        "used_bytes": process.memory_info().rss,
        "total_bytes": psutil.virtual_memory().total,
    }
