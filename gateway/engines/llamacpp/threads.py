"""How many CPU threads llama.cpp computes with, and how long they spin waiting for each other
(OpenMP's spin count, which must be in the environment before xllamacpp is first imported)."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

# One logger for the whole engine package: log lines read `gateway.engines.llamacpp: ...`.
log = logging.getLogger("gateway.engines.llamacpp")


def set_spin_count(spins: Optional[int]) -> None:
    """OpenMP (libgomp, which llama.cpp's CPU backend runs its threads on) reads its spin count
    from the environment once, when it is loaded: set it before xllamacpp is first imported."""
    if spins is None:
        return
    if libgomp_loaded():
        if os.environ.get("GOMP_SPINCOUNT") != str(spins):
            log.warning("llamacpp.spin_count: OpenMP is already loaded in this process; "
                        "set GOMP_SPINCOUNT=%d in the environment instead", spins)
        return
    os.environ["GOMP_SPINCOUNT"] = str(spins)


def libgomp_loaded() -> bool:
    try:
        return "libgomp" in Path("/proc/self/maps").read_text()
    except OSError:  # no /proc (not Linux): the environment is all there is
        return False


def default_threads() -> int:
    """Half the CPUs this process may use, at least one: the rest stay free for the editor and
    whatever else runs beside (bench/gateway_vs_llamacpp.py --contention measures why)."""
    return max(1, len(os.sched_getaffinity(0)) // 2)
