"""How much CPU other programs take, and whether that changed for a while: the signal that
makes the thread tuner (thread_tuner.py) measure again. Read from /proc/stat (every CPU's busy
time) less this process's own CPU time, so the gateway's own generation is not counted."""
from __future__ import annotations

import collections
import os
import time
from typing import Optional

# A level counts as changed when the window's mean moved by this many cores since the last
# measurement, and the newest samples agree with that mean (a steady load, not bursts: a
# program that alternates with the gateway, e.g. another server answering between our
# requests, is not the contention our next request meets, and a probe would meet it instead).
CHANGE_CORES = 0.5
# "Steady": the newest samples (10 s at the tuner's 2 s) all within CHANGE_CORES of the mean.
STEADY_SAMPLES = 5


def _busy_ticks() -> Optional[int]:
    """Every CPU's busy time since boot, in clock ticks (user, nice, system, irq, softirq, steal)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:  # no /proc (not Linux): no signal, so no re-measuring
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    return user + nice + system + irq + softirq + steal


class OthersCpu:
    """Cores used by other programs between one sample() and the next."""

    def __init__(self) -> None:
        self._tick = os.sysconf("SC_CLK_TCK")
        self._last = self._read()

    def _read(self) -> Optional[tuple[float, float, float]]:
        busy = _busy_ticks()
        if busy is None:
            return None
        own = os.times()
        return time.monotonic(), busy / self._tick, own.user + own.system

    def sample(self) -> Optional[float]:
        now, last = self._read(), self._last
        self._last = now
        if now is None or last is None or now[0] - last[0] <= 0:
            return None
        others = (now[1] - last[1]) - (now[2] - last[2])
        return max(0.0, others / (now[0] - last[0]))


class LoadWindow:
    """The last `size` samples of other programs' CPU, against the level of the last measurement."""

    def __init__(self, size: int) -> None:
        self._samples: collections.deque[float] = collections.deque(maxlen=size)
        self.level: Optional[float] = None  # others' cores when the thread count was last measured

    def add(self, cores: float) -> None:
        self._samples.append(cores)

    @property
    def mean(self) -> Optional[float]:
        return sum(self._samples) / len(self._samples) if self._samples else None

    def changed(self) -> bool:
        """A full window whose mean moved CHANGE_CORES from the level, its newest samples with it."""
        if len(self._samples) < (self._samples.maxlen or 0):
            return False
        mean = self.mean
        assert mean is not None
        if self.level is None:  # the first full window after a measurement sets the level
            self.level = mean
            return False
        newest = list(self._samples)[-STEADY_SAMPLES:]
        return abs(mean - self.level) >= CHANGE_CORES and all(abs(x - mean) < CHANGE_CORES for x in newest)

    def measured(self) -> None:
        """A measurement was taken: the level is the window's (or the next full window's)."""
        full = len(self._samples) == self._samples.maxlen
        self.level = self.mean if full else None
        self._samples.clear()
