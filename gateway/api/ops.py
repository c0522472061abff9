"""Operator endpoints: /health, /metrics (Prometheus), /v1/stats (status bars), the chat page."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from gateway.api.app_keys import EMBEDDINGS, METRICS, SERVING
from gateway.lifecycle import LIFECYCLE
from gateway.telemetry import engine_counters_text

routes = web.RouteTableDef()
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def health_status(app: web.Application) -> str:
    """What /health says: loading | ready | dead | failed (also the CLI's ready line)."""
    status = app[SERVING].current_status()
    embeddings = app.get(EMBEDDINGS)
    if status == "ready" and embeddings is not None and embeddings.status == "loading":
        status = "loading"  # ready means every model this server was configured with serves
    return status


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    status = health_status(request.app)
    return web.json_response({"status": status}, status=200 if status == "ready" else 503)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    serving = request.app[SERVING]
    m = request.app[METRICS]
    m.running.set(serving.admission.running)
    m.waiting.set(serving.admission.waiting)
    m.ready.set(1 if serving.current_status() == "ready" else 0)
    engine_counters = b""
    if serving.status == "ready":
        stats = await serving.engine.stats()
        m.engine_running.set(stats.running)
        m.engine_waiting.set(stats.waiting)
        if stats.kv_cache_usage is not None:
            m.kv_cache_usage.set(stats.kv_cache_usage)
        for device in stats.devices:
            m.device_memory_used.labels(device["name"]).set(device["used_bytes"])
            m.device_memory_total.labels(device["name"]).set(device["total_bytes"])
        engine_counters = engine_counters_text(stats.counters)
    # The gateway's own registry, then the process-wide one: process_* and python_* metrics,
    # and vLLM's vllm:* metrics, which vLLM always registers there.
    # The engine's own counters (llama.cpp's, or each upstream server's state, load and latency).
    body = generate_latest(m.registry) + engine_counters + generate_latest(REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get("/v1/stats")
async def stats(request: web.Request) -> web.Response:
    serving = request.app[SERVING]
    engine = serving.engine
    body = {
        "status": serving.status,
        "engine": engine.name,
        "model": serving.served_model_name if serving.status != "loading" else None,
        "context_length": None,
        "history_window_tokens": serving.settings.model.history_window_tokens,
        "memory": {"kind": "process", "devices": []},
        "requests": {
            "running": serving.admission.running,
            "waiting": serving.admission.waiting,
            # Admission slots held: one per running sequence (prompts × n).
            "held_slots": serving.admission.held,
            "concurrency_limit": serving.admission.max_concurrency,
            "queue_limit": serving.admission.max_queue,
        },
        "last": vars(serving.stats.last) if serving.stats.last else None,
        "average": serving.stats.average(),
        "engine_counters": {},
        "gateway_counters": {
            **serving.stats.counters,
            # Streams cut off because the client stopped reading (server.write_timeout_s), and
            # requests ended by server.request_timeout_s or by shutdown.
            "streams_stalled_total": request.app[LIFECYCLE].stalled_total,
            "requests_ended_total": request.app[LIFECYCLE].ended_total,
        },
    }
    if serving.status == "ready":
        engine_stats = await engine.stats()
        body["context_length"] = engine.tokenizer.context_length
        body["memory"] = {
            "kind": "gpu" if engine.device_kind == "gpu" and engine_stats.devices else "process",
            "devices": engine_stats.devices,
        }
        body["engine_counters"] = engine_stats.counters
        body["engine_requests"] = {"running": engine_stats.running, "waiting": engine_stats.waiting}
        body["kv_cache_usage"] = engine_stats.kv_cache_usage
    body["embeddings"] = _embedding_stats(request)
    return web.json_response(body)


def _embedding_stats(request: web.Request) -> "dict | None":
    embeddings = request.app.get(EMBEDDINGS)
    if embeddings is None:
        return None
    c = embeddings.counters
    body = {
        "status": embeddings.status,
        "model": embeddings.served_model_name,
        "runtime": embeddings.model.runtime,
        "dimensions": embeddings.model.dimensions or None,
        "max_input_tokens": embeddings.model.max_input_tokens or None,
        "requests": {"running": embeddings.admission.running, "waiting": embeddings.admission.waiting},
        "requests_total": c.requests_total,
        "inputs_total": c.inputs_total,
        "prompt_tokens_total": c.prompt_tokens_total,
        "inputs_per_second": round(c.inputs_total / c.seconds_total, 1) if c.seconds_total else None,
        "last": c.last,
        "memory": {"kind": "process", "devices": []},
    }
    if embeddings.status == "ready":
        body["memory"]["devices"] = embeddings.model.stats().devices
    return body


@routes.get("/")
async def chat_page(request: web.Request) -> web.StreamResponse:
    index = STATIC_DIR / "index.html"
    if not index.is_file():
        raise web.HTTPNotFound(text="the chat page is not installed")
    return web.FileResponse(index, headers={"Cache-Control": "no-cache"})
