"""The `upstream` engine: the gateway in front of one or more OpenAI-compatible servers
(vLLM's, llama.cpp's, SGLang, Ray Serve LLM, another oss-sidecar), with health checks,
prefix-affinity routing within a load bound, and failover. See docs/SCALING.md.

settings.py (the `upstream` section), ring.py (consistent hashing with bounded loads),
routing.py (which replica), health.py (replica state and checks), tokenizers.py (the
upstream's /tokenize or a local tokenizer.json), stream.py (SSE to Deltas), engine.py.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.engines.registry import EngineSpec
from gateway.engines.upstream.settings import UpstreamSettings

if TYPE_CHECKING:
    from gateway.engines.base import Engine
    from gateway.settings import Settings


def _build(settings: "Settings") -> "Engine":
    from gateway.engines.upstream.engine import UpstreamEngine

    return UpstreamEngine(settings)


def _doctor(settings: "Settings") -> list[tuple[bool, str]]:
    import urllib.error
    import urllib.request

    cfg = settings.upstream
    if not cfg.servers:
        return [(False, "upstream.servers is empty: list at least one OpenAI-compatible server")]
    from gateway.redaction import redact, url_label

    lines = []
    for server in cfg.servers:
        shown = url_label(server.url)
        req = urllib.request.Request(server.url + "/health")
        if server.api_key:
            req.add_header("Authorization", f"Bearer {server.api_key}")
        try:
            with urllib.request.urlopen(req, timeout=cfg.connect_timeout_s) as resp:
                lines.append((resp.status == 200, f"upstream {shown}: /health {resp.status}"))
        except urllib.error.HTTPError as exc:
            lines.append((False, f"upstream {shown}: /health {exc.code}"))
        except OSError as exc:
            lines.append((False, f"upstream {shown}: unreachable ({redact(str(exc))})"))
    try:
        import tokenizers

        lines.append((True, f"tokenizers {tokenizers.__version__} (for upstream.tokenizer)"))
    except ImportError:
        lines.append((not cfg.tokenizer, "tokenizers is missing (needed for upstream.tokenizer): pip install ."))
    return lines


ENGINE = EngineSpec(
    name="upstream",
    summary="one or more OpenAI-compatible servers (vLLM, llama.cpp, SGLang, another oss-sidecar): prefix-affinity routing, health checks, failover",
    settings=UpstreamSettings,
    build=_build,
    doctor=_doctor,
)
