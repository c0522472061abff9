"""Debouncing of automatic inline-completion requests, adaptive to typing speed and latency.

Modelled on tabby-agent's debouncer: the delay is ``rate * typing_interval - latency / 2``,
clamped to [min, max], where

* ``typing_interval`` is the average interval between the user's recent keystrokes (trigger
  events closer than 1 s; clamped to 100-400 ms), or the configured ``debounceMs`` until 20
  intervals have been seen;
* ``rate`` goes from 3.0 down to 1.5 as the context makes a completion more likely to be wanted
  now: after a non-word trigger character (space, ``.``, ``(``, line break: +0.5), at the end
  of a line (+0.4), at the end of the document (+0.1);
* ``latency`` is the recent median time-to-answer of the gateway: when answers are slow, waiting
  the full delay on top of them makes ghost text late, so half of it is taken off — but never
  more than half the delay: on a local CPU engine every request fired into a typing burst costs
  prompt processing even when it is cancelled before its first token (tabby-agent subtracts
  without that bound; bench/typing_trace.py measured ~3x more requests sent that way).

A manually invoked completion is not debounced. With ``adaptiveDebounce: false`` the delay is
exactly ``debounceMs``.
"""

from __future__ import annotations

import collections
import statistics
import time

MIN_DELAY_MS = 100.0
MAX_DELAY_MS = 1000.0
INTERVAL_WINDOW = 100
INTERVAL_MIN_SAMPLES = 20
INTERVAL_CLAMP = (100.0, 400.0)
RATE_MAX, RATE_MIN = 3.0, 1.5
WEIGHT_TRIGGER_CHAR, WEIGHT_LINE_END, WEIGHT_DOC_END = 0.5, 0.4, 0.1


class LatencyTracker:
    """The last few gateway answer times (ms)."""

    def __init__(self, size: int = 10):
        self._samples: collections.deque[float] = collections.deque(maxlen=size)

    def add(self, ms: float) -> None:
        self._samples.append(ms)

    def median(self) -> float | None:
        return statistics.median(self._samples) if self._samples else None

    def __len__(self) -> int:
        return len(self._samples)


class Debouncer:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._last: float | None = None
        self._intervals: collections.deque[float] = collections.deque(maxlen=INTERVAL_WINDOW)
        self.latency = LatencyTracker()

    def record_keystroke(self) -> None:
        """Note one user edit (called on every ``didChange``)."""
        now = self._clock()
        if self._last is not None:
            ms = (now - self._last) * 1000.0
            if ms < 1000.0:  # pauses longer than a second are thinking, not typing
                self._intervals.append(ms)
        self._last = now

    def typing_interval(self, base_ms: float) -> float:
        if len(self._intervals) < INTERVAL_MIN_SAMPLES:
            return base_ms
        avg = sum(self._intervals) / len(self._intervals)
        return min(max(avg, INTERVAL_CLAMP[0]), INTERVAL_CLAMP[1])

    def delay_ms(
        self,
        base_ms: float,
        *,
        adaptive: bool = True,
        manual: bool = False,
        trigger_char: str = "",
        line_end: bool = False,
        document_end: bool = False,
    ) -> float:
        """How long to wait before sending this request to the gateway."""
        if manual:
            return 0.0
        if not adaptive:
            return float(base_ms)
        score = 0.0
        if trigger_char and not (trigger_char.isalnum() or trigger_char == "_"):
            score += WEIGHT_TRIGGER_CHAR
        if line_end:
            score += WEIGHT_LINE_END
        if document_end:
            score += WEIGHT_DOC_END
        rate = RATE_MAX - (RATE_MAX - RATE_MIN) * score
        delay = rate * self.typing_interval(base_ms)
        latency = self.latency.median()
        if latency is not None:
            delay -= min(latency / 2.0, delay / 2.0)
        lo = min(MIN_DELAY_MS, float(base_ms))
        return min(max(delay, lo), MAX_DELAY_MS)
