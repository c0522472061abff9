"""aiohttp Application factory: routes, middlewares, and the engine's lifetime (cleanup_ctx).

The server listens before the model is loaded, so /health can say "loading"; the engine
starts in a background task and `app[READY]` is set once it serves (or failed).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator, Callable, Optional

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from gateway import http_guards
from gateway.api import anthropic, json_schema, knowledge, ollama, openai, openapi, ops, responses
from gateway.api.app_keys import EMBEDDINGS, METRICS, SERVING
from gateway.embeddings import create_embedding_model
from gateway.embeddings.base import EmbeddingModel
from gateway.engines.base import Engine, ProgressCallback
from gateway.engines.registry import create_engine
from gateway.errors import ApiError
from gateway.lifecycle import LIFECYCLE, Lifecycle, request_guard
from gateway.knowledge.retrieval import Knowledge
from gateway.knowledge.store import KnowledgeStore
from gateway.knowledge.store import data_dir as knowledge_dir
from gateway.prompts.fim import detect_family, get_family
from gateway.serving import Serving
from gateway.serving.embeddings import Embeddings
from gateway.settings import Settings
from gateway.telemetry import Metrics

log = logging.getLogger("oss_sidecar")
READY = web.AppKey("ready", asyncio.Event)
LOAD_ERROR = web.AppKey("load_error", list)

_HTTP_ERROR_TYPES = {401: "authentication_error", 404: "not_found_error", 405: "invalid_request_error",
                     413: "invalid_request_error"}


# Wire formats: each brings its routes, the path prefix it owns, its own error body, and
# optionally a `setup(app)` for the state it keeps (the Responses API's store).
WIRE_FORMATS = (openai, ollama, responses, anthropic)


def _error_renderer(path: str) -> Callable[[ApiError], web.Response]:
    # The most specific prefix wins: /v1/responses and /v1/messages lie inside OpenAI's /v1/.
    owners = [wire for wire in WIRE_FORMATS if path.startswith(wire.PATH_PREFIX)]
    if owners:
        return max(owners, key=lambda wire: len(wire.PATH_PREFIX)).error_response
    return openai.error_response  # operator endpoints and unknown paths


@web.middleware
async def api_errors(request: web.Request, handler: Callable) -> web.StreamResponse:
    """Every error is an error body of the API the path belongs to; client input never yields a
    500 or a traceback."""
    error_response = _error_renderer(request.path)
    try:
        return await handler(request)
    except ApiError as exc:
        response = error_response(exc)
        if exc.headers.get("Connection") == "close":
            response.force_close()
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.text or exc.reason
        code = None
        if exc.status == 413:
            limit = request.app[SERVING].settings.server.max_body_bytes
            message = f"the request body is larger than this server accepts ({limit} bytes, setting server.max_body_bytes)"
            code = "request_too_large"
        elif exc.status == 404:
            message = f"no such endpoint: {request.method} {request.path}"
        elif exc.status == 405:
            message = f"method {request.method} is not allowed on {request.path}"
        error = ApiError(exc.status, message, type=_HTTP_ERROR_TYPES.get(exc.status, "invalid_request_error"), code=code)
        return error_response(error)
    except RequestPayloadError as exc:  # a body that cannot be read as sent (e.g. invalid gzip)
        reason = getattr(exc.__cause__, "message", None) or str(exc.__cause__ or "unreadable")
        response = error_response(ApiError(400, f"the request body could not be read: {reason}", code="invalid_body"))
        # The rest of the body cannot be read: this connection carries no other request, and
        # aiohttp must not try to drain it afterwards (it would log the same error as a traceback).
        response.force_close()
        request.content.feed_eof()
        return response
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        guard = request_guard(request)
        if guard is not None and guard.response is not None and guard.response.prepared:
            return guard.response  # a stream already under way: end it, never a second response inside it
        return error_response(ApiError(500, "internal server error; see the server log", type="server_error"))


def api_key_check(keys: list[str], metrics_require_key: bool = True) -> Callable:
    """The API (every wire format's paths, /v1/stats among them) and, unless opened to a
    scraper, /metrics need a key; /health (probes) and the chat page's files do not."""
    accepted = {f"Bearer {k}" for k in keys}
    raw_keys = set(keys)
    extra = ("/metrics",) if metrics_require_key else ()

    @web.middleware
    async def require_key(request: web.Request, handler: Callable) -> web.StreamResponse:
        guarded = request.path in extra or any(
            request.path.startswith(wire.PATH_PREFIX) or request.path in getattr(wire, "EXTRA_PATHS", ())
            for wire in WIRE_FORMATS
        )
        # Anthropic's clients send the key as x-api-key, OpenAI's as a Bearer token: either will do.
        if (
            guarded
            and request.headers.get("Authorization") not in accepted
            and request.headers.get("x-api-key") not in raw_keys
        ):
            raise ApiError(
                401,
                "missing or incorrect API key: send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
                type="authentication_error",
                code="invalid_api_key",
            )
        return await handler(request)

    return require_key


async def _load_engine(app: web.Application, progress: Optional[ProgressCallback]) -> None:
    serving = app[SERVING]
    try:
        await serving.engine.start(progress)
        fim = serving.settings.model.fim_family
        if fim == "auto":
            serving.fim_family = detect_family(await serving.engine.tokenizer.special_tokens())
        elif fim != "none":
            serving.fim_family = get_family(fim)
        serving.status = "ready"
        log.info(
            "engine %s ready: model %s, FIM %s",
            serving.engine.name,
            serving.served_model_name,
            serving.fim_family.name if serving.fim_family else "fallback (prefix only)",
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        serving.status = "failed"
        app[LOAD_ERROR].append(exc)
        log.error("the model failed to load: %s", exc)
    finally:
        app[READY].set()


async def _load_embeddings(embeddings: Embeddings) -> None:
    try:
        await embeddings.model.start()
        embeddings.status = "ready"
        embeddings.metrics.embedding_ready.set(1)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        embeddings.status = "failed"
        log.error("the embedding model failed to load: %s", exc)


def create_app(
    settings: Settings,
    engine: Optional[Engine] = None,
    progress: Optional[ProgressCallback] = None,
    embedding_model: Optional[EmbeddingModel] = None,
) -> web.Application:
    server = settings.server
    lifecycle = Lifecycle(server.request_timeout_s, server.write_timeout_s, server.body_timeout_s, server.max_body_bytes)
    # Order matters: errors render everything below; the guards answer before any key check
    # (a CORS preflight carries no key); the lifetime limits wrap the handlers.
    middlewares = [api_errors, *http_guards.middlewares(settings.server),
                   json_schema.budget_middleware(settings.server.max_schema_bytes, settings.server.max_schema_values)]
    if settings.server.api_keys:
        middlewares.append(api_key_check(settings.server.api_keys, settings.server.metrics_require_key))
    middlewares.append(lifecycle.middleware())
    app = web.Application(middlewares=middlewares, client_max_size=settings.server.max_body_bytes)
    app.on_response_prepare.append(http_guards.response_headers(settings.server.cors_origins))
    app[LIFECYCLE] = lifecycle
    metrics = Metrics()
    app[SERVING] = Serving(settings, engine or create_engine(settings), metrics)
    app[METRICS] = metrics
    if settings.embeddings.enabled:
        app[EMBEDDINGS] = Embeddings(settings, embedding_model or create_embedding_model(settings.embeddings), metrics)
    app[SERVING].knowledge = Knowledge(
        KnowledgeStore(knowledge_dir(settings.knowledge.data_dir)), app.get(EMBEDDINGS), settings.knowledge.max_top_k
    )
    app[READY] = asyncio.Event()
    app[LOAD_ERROR] = []
    for wire in WIRE_FORMATS:
        app.add_routes(wire.routes)
        if hasattr(wire, "setup"):
            wire.setup(app)
    app.add_routes(ops.routes)
    app.add_routes(knowledge.routes)
    app.add_routes(openapi.routes)
    if ops.STATIC_DIR.is_dir():
        app.router.add_static("/static/", ops.STATIC_DIR)

    async def engine_lifetime(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_load_engine(app, progress))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await app[SERVING].engine.stop()

    async def embeddings_lifetime(app: web.Application) -> AsyncIterator[None]:
        embeddings = app.get(EMBEDDINGS)
        task = asyncio.create_task(_load_embeddings(embeddings)) if embeddings else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await embeddings.model.stop()

    app.cleanup_ctx.append(engine_lifetime)
    app.cleanup_ctx.append(embeddings_lifetime)
    return app
