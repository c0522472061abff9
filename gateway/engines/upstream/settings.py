"""The `upstream` section: which OpenAI-compatible servers to forward to, and how to route."""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from gateway.redaction import redact
from gateway.settings_section import Section


class UpstreamServer(Section):
    # Base URL of an OpenAI-compatible server (vLLM, llama.cpp, SGLang, Ray Serve LLM, another
    # oss-sidecar), with or without the trailing /v1.
    url: str
    # Sent as `Authorization: Bearer <key>`; empty: none.
    api_key: Optional[str] = None
    # Requests this server is given at once; the sum over servers is the admission limit.
    max_concurrency: int = Field(16, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _from_url(cls, value: Any) -> Any:
        return {"url": value} if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {redact(value)!r})")
        return value.rstrip("/").removesuffix("/v1")


class UpstreamSettings(Section):
    # The servers, all serving the same model: one URL, or several replicas.
    servers: list[UpstreamServer] = Field(default_factory=list)
    # affinity: the same prompt beginning goes to the same replica (its prefix cache stays warm),
    # within the load bound; round_robin: in turn. One server (or a cluster's own router): moot.
    routing: Literal["affinity", "round_robin"] = "affinity"
    # Characters of the prompt's beginning that choose the replica (chat: the system prompt and
    # the first user message).
    affinity_prefix_chars: int = Field(1024, ge=16)
    # Load bound of affinity routing: no replica takes more than this times the mean in-flight
    # load (consistent hashing with bounded loads); 1.0 is as even as possible.
    load_factor: float = Field(1.25, ge=1.0, le=4.0)
    # A tokenizer.json (or a folder with one, and the chat template in tokenizer_config.json or
    # chat_template.jinja) for upstreams without /tokenize; empty: the upstream's /tokenize.
    tokenizer: Optional[str] = None
    # The model's context in tokens when the upstream's /v1/models does not say; set: overrides it.
    context_length: Optional[int] = Field(None, ge=256)
    # Seconds between health checks (GET /health) of every server.
    health_interval_s: float = Field(2.0, gt=0)
    # Seconds to wait for a connection, and for a health check.
    connect_timeout_s: float = Field(5.0, gt=0)
    # Seconds without a byte from a server before its request fails (a queued prompt counts).
    read_timeout_s: float = Field(300.0, gt=0)
    # Seconds the gateway waits at start for the first server to answer.
    start_timeout_s: float = Field(120.0, gt=0)
