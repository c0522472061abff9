"""The thread count chosen by measurement, changed only while idle.

llama.cpp's threads wait for each other at every step: on an idle machine more threads decode
faster, beside a program that holds a core fewer do (docs/BENCHMARKS.md), and xllamacpp cannot
change a running server's count. So after the model loads, and again when other programs' CPU
use has changed for a while (cpu_contention.py), this times a decode step with each candidate
count (thread_probe.py, in a child process, only while no request runs; a request that arrives
kills it) and, when the best beats the current count by SWITCH_GAIN, restarts the embedded
server with it, again only while idle (requests arriving then wait, engine.py). Each switch is
logged with the figures that caused it. `llamacpp.n_threads` set, or `thread_tuning: false`,
turns this off.
"""
from __future__ import annotations

import asyncio
import logging
import os
import statistics
from typing import TYPE_CHECKING, Optional

from gateway.engines.llamacpp.cpu_contention import LoadWindow, OthersCpu
from gateway.engines.llamacpp.thread_probe import probe

if TYPE_CHECKING:
    from gateway.engines.llamacpp.engine import LlamaCppEngine

log = logging.getLogger("gateway.engines.llamacpp")

SAMPLE_S = 2.0  # other programs' CPU, sampled this often
WINDOW_SAMPLES = 15  # "for a while": the mean over the last 30 s
IDLE_POLL_S = 0.25  # how often a pending measurement looks for an idle moment
# A probe starts only after this long without a request: between the requests of a burst
# (typing, an agent's turns) it would only be started and killed again.
IDLE_BEFORE_PROBE_S = 1.0
PROBE_TOKENS = 16
PROBE_ROUNDS = 3
# The best count must decode this much faster than the current one: a switch costs a restart
# (about a second) and what the RAM prompt cache held beyond the slots (slot_cache.py).
SWITCH_GAIN = 1.10
RETRY_S = 60.0  # after a probe that failed (not one a request interrupted)


def candidates(configured: list[int]) -> list[int]:
    """The counts to time: the configured ones, else every count up to 4 CPUs, and beyond that
    the powers of two, half the CPUs and all of them (the probe stays short)."""
    if configured:
        return sorted(set(configured))
    cpus = len(os.sched_getaffinity(0))
    if cpus <= 4:
        return list(range(1, cpus + 1))
    out = {1, cpus // 2, cpus}
    n = 2
    while n < cpus:
        out.add(n)
        n *= 2
    return sorted(out)


class ThreadTuner:
    def __init__(self, engine: LlamaCppEngine, configured: list[int], spin_count: Optional[int]):
        self._engine = engine
        self.candidates = candidates(configured)
        self._spin = None if spin_count is None else str(spin_count)
        self._meter = OthersCpu()
        self._window = LoadWindow(WINDOW_SAMPLES)
        self._task: Optional[asyncio.Task] = None
        self.switches = 0
        self.last_rates: dict[int, float] = {}

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="llamacpp-thread-tuner")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        reason = "model loaded"
        while True:
            if reason:
                outcome = await self._measure_when_idle(reason)
                reason = "" if outcome != "failed" else reason
                self._meter.sample()  # the probe's own CPU is not other programs'
                self._window.measured()
                if outcome == "failed":
                    await asyncio.sleep(RETRY_S)
                    continue
            await asyncio.sleep(SAMPLE_S)
            cores = self._meter.sample()
            if cores is None:
                continue
            self._window.add(cores)
            if self._window.changed():
                reason = (f"other programs' CPU use changed from {self._window.level:.2f} to "
                          f"{self._window.mean:.2f} cores over {WINDOW_SAMPLES * SAMPLE_S:.0f} s")

    async def _measure_when_idle(self, reason: str) -> str:
        """Probe (and switch) at the first moment no request runs; a request arriving during
        the probe stops it, and it starts again at the next idle moment."""
        while True:
            while self._engine.idle_for() < IDLE_BEFORE_PROBE_S:
                await asyncio.sleep(IDLE_POLL_S)
            probing = asyncio.ensure_future(self._probe())
            try:
                while not probing.done():
                    await asyncio.wait({probing}, timeout=0.05)
                    if not probing.done() and not self._engine.idle:
                        probing.cancel()  # kills the child: the request gets the CPU
            finally:  # also when the tuner itself stops (the engine stops)
                if not probing.done():
                    probing.cancel()
                    await asyncio.wait({probing})
            try:
                rates = probing.result()
            except asyncio.CancelledError:
                log.debug("thread probe interrupted by a request; measuring again when idle")
                continue
            except Exception as exc:  # a probe that cannot run must not stop the gateway
                log.warning("thread count not measured (%s); keeping %d", exc, self._engine.threads)
                return "failed"
            await self._decide(rates, reason)
            return "done"

    async def _probe(self) -> dict[int, float]:
        cfg = self._engine.settings_section
        rates = await probe(str(self._engine.model_path), self.candidates, self._engine.threads_batch,
                            PROBE_TOKENS, PROBE_ROUNDS, cfg.n_gpu_layers, self._spin)
        return {n: statistics.median(r) for n, r in rates.items()}

    async def _decide(self, rates: dict[int, float], reason: str) -> None:
        self.last_rates = rates
        current = self._engine.threads
        best = max(rates, key=lambda n: rates[n])
        figures = ", ".join(f"{n} thread(s) {rates[n]:.1f} tok/s" for n in sorted(rates))
        # The current count's figure is measured too, unless it is not a candidate.
        now = rates.get(current)
        if best == current or (now is not None and rates[best] < now * SWITCH_GAIN):
            log.info("thread count stays %d (%s; %s)", current, reason, figures)
            return
        while not self._engine.idle:  # requests that came after the probe finish first
            await asyncio.sleep(IDLE_POLL_S)
        seconds = await self._engine.switch_threads(best)
        self.switches += 1
        log.info("thread count switched from %d to %d in %.2f s (%s; %s)", current, best, seconds, reason, figures)
