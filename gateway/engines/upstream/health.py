"""Each upstream server's state, load and latency, and the health checks that take a dead or
draining server out of rotation and bring it back.

A server is up while GET /health answers 200 (vLLM, llama.cpp, SGLang and oss-sidecar answer
503 while loading, draining or dead). A request that cannot connect takes the server out at
once, without waiting for the next check; the checks bring it back when it answers again.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Optional

import aiohttp

from gateway.redaction import redact, url_label

log = logging.getLogger(__name__)

# Weight of the newest sample in the latency averages.
_EWMA = 0.2


class Replica:
    def __init__(self, url: str, api_key: Optional[str], max_concurrency: int):
        self.url = url  # requests go here (aiohttp sends a user:password in it as Basic auth)
        self.label = url_label(url)  # what labels, errors and logs show: no credentials
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.max_concurrency = max_concurrency
        self.up = False
        self.state = "unknown"  # unknown | up | down
        self.last_error = ""
        self.in_flight = 0
        self.requests_total = 0
        self.failures_total = 0  # requests that failed on this server (before or after the first byte)
        self.first_token_ms: Optional[float] = None  # average time to the first output
        self.health_ms: Optional[float] = None  # average round trip of a health check

    def mark_up(self) -> None:
        if self.state != "up":
            log.info("upstream %s is up", self.label)
        self.up, self.state, self.last_error = True, "up", ""

    def mark_down(self, reason: str) -> None:
        reason = redact(reason)
        if self.state != "down":
            log.warning("upstream %s is out of rotation: %s", self.label, reason)
        self.up, self.state, self.last_error = False, "down", reason

    def observe_first_token(self, seconds: float) -> None:
        self.first_token_ms = _average(self.first_token_ms, seconds * 1000)

    def counters(self) -> dict[str, float]:
        """Prometheus-shaped names with the server as a label (see gateway.telemetry)."""
        label = f'{{server="{self.label}"}}'
        out = {
            f"upstream_up{label}": 1.0 if self.up else 0.0,
            f"upstream_in_flight{label}": float(self.in_flight),
            f"upstream_requests_total{label}": float(self.requests_total),
            f"upstream_failures_total{label}": float(self.failures_total),
        }
        if self.first_token_ms is not None:
            out[f"upstream_first_token_ms{label}"] = round(self.first_token_ms, 3)
        if self.health_ms is not None:
            out[f"upstream_health_check_ms{label}"] = round(self.health_ms, 3)
        return out


def _average(old: Optional[float], sample: float) -> float:
    return sample if old is None else (1 - _EWMA) * old + _EWMA * sample


async def check(session: aiohttp.ClientSession, replica: Replica, timeout_s: float) -> bool:
    """One health check; updates the replica's state."""
    t0 = time.perf_counter()
    try:
        async with session.get(
            replica.url + "/health", headers=replica.headers, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp:
            await resp.read()
            replica.health_ms = _average(replica.health_ms, (time.perf_counter() - t0) * 1000)
            if resp.status == 200:
                replica.mark_up()
                return True
            replica.mark_down(f"GET /health answered {resp.status}")
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        replica.mark_down(f"GET /health failed: {exc.__class__.__name__} {exc}".strip())
    return False


class HealthChecker:
    """Checks every replica each `interval_s`; `poke()` checks at once (after a failure)."""

    def __init__(self, session: aiohttp.ClientSession, replicas: list[Replica], interval_s: float, timeout_s: float):
        self._session = session
        self._replicas = replicas
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._wake = asyncio.Event()
        self._task: Optional[asyncio.Task] = None

    async def check_all(self) -> None:
        await asyncio.gather(*(check(self._session, r, self._timeout_s) for r in self._replicas))

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    def poke(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            await self.check_all()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
