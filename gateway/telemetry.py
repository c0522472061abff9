"""What the gateway measures about its own requests: Prometheus metrics and the last-turn
numbers behind /v1/stats (time to first token, tokens per second, running averages)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass
class TurnNumbers:
    prompt_tokens: int
    completion_tokens: int
    ttft_ms: Optional[float]
    tokens_per_second: Optional[float]


@dataclass
class RequestStats:
    last: Optional[TurnNumbers] = None
    count: int = 0
    _ttft_sum: float = 0.0
    _ttft_n: int = 0
    _tps_sum: float = 0.0
    _tps_n: int = 0
    counters: dict[str, int] = field(
        default_factory=lambda: {"requests_total": 0, "requests_aborted_total": 0, "completion_tokens_total": 0}
    )

    def record(self, turn: TurnNumbers) -> None:
        self.last = turn
        self.count += 1
        if turn.ttft_ms is not None:
            self._ttft_sum += turn.ttft_ms
            self._ttft_n += 1
        if turn.tokens_per_second is not None:
            self._tps_sum += turn.tokens_per_second
            self._tps_n += 1

    def average(self) -> dict:
        return {
            "count": self.count,
            "ttft_ms": self._ttft_sum / self._ttft_n if self._ttft_n else None,
            "tokens_per_second": self._tps_sum / self._tps_n if self._tps_n else None,
        }


class Metrics:
    """Prometheus metrics of one application (its own registry: several apps may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "oss_sidecar_requests", "HTTP requests by endpoint and status", ["endpoint", "status"], registry=r
        )
        self.aborted = Counter("oss_sidecar_requests_aborted", "Generations aborted by client disconnect", registry=r)
        self.rejected = Counter("oss_sidecar_requests_rejected", "Requests answered 429 by admission", registry=r)
        self.prompt_tokens = Counter("oss_sidecar_prompt_tokens", "Prompt tokens processed", registry=r)
        self.completion_tokens = Counter("oss_sidecar_completion_tokens", "Completion tokens generated", registry=r)
        self.ttft = Histogram(
            "oss_sidecar_time_to_first_token_seconds", "Time to first token", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.e2e = Histogram(
            "oss_sidecar_request_duration_seconds", "Generation request duration", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.running = Gauge("oss_sidecar_requests_running", "Requests generating now", registry=r)
        self.waiting = Gauge("oss_sidecar_requests_waiting", "Requests waiting in the admission queue", registry=r)
        self.engine_running = Gauge("oss_sidecar_engine_requests_running", "Requests running in the engine", registry=r)
        self.engine_waiting = Gauge("oss_sidecar_engine_requests_waiting", "Requests waiting in the engine", registry=r)
        self.kv_cache_usage = Gauge("oss_sidecar_kv_cache_usage_ratio", "KV-cache use, 0..1", registry=r)
        self.device_memory_used = Gauge(
            "oss_sidecar_device_memory_used_bytes", "Memory used per device", ["device"], registry=r
        )
        self.device_memory_total = Gauge(
            "oss_sidecar_device_memory_total_bytes", "Memory per device", ["device"], registry=r
        )
        self.ready = Gauge("oss_sidecar_ready", "1 when the model is loaded and the engine healthy", registry=r)
        # The embedding model (/v1/embeddings and the knowledge base).
        self.embedding_requests = Counter(
            "oss_sidecar_embedding_requests", "Embedding requests answered", registry=r
        )
        self.embedding_inputs = Counter("oss_sidecar_embedding_inputs", "Inputs embedded", registry=r)
        self.embedding_tokens = Counter("oss_sidecar_embedding_prompt_tokens", "Tokens embedded", registry=r)
        self.embedding_duration = Histogram(
            "oss_sidecar_embedding_duration_seconds", "Time to embed one request's inputs",
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.embedding_ready = Gauge("oss_sidecar_embedding_ready", "1 when the embedding model is loaded", registry=r)


# An engine counter's key: a metric name, optionally with Prometheus labels ('name{server="..."}').
_COUNTER_KEY = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})?$')


def engine_counters_text(counters: dict[str, float]) -> bytes:
    """The engine's own counters (EngineStats.counters) as Prometheus text, `oss_sidecar_engine_*`.

    Keys that are not metric names (with optional labels) are left out of /metrics; /v1/stats
    shows every key.
    """
    lines = []
    for key in sorted(counters):
        match = _COUNTER_KEY.match(key)
        if match:
            lines.append(f"oss_sidecar_engine_{match.group(1)}{match.group(2) or ''} {float(counters[key])!r}")
    return ("\n".join(lines) + "\n").encode() if lines else b""
