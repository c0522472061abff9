"""POST /api/embed and the legacy POST /api/embeddings, on the gateway's embedding model
through the serving core's embeddings (the path /v1/embeddings takes)."""
from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from gateway.api.app_keys import EMBEDDINGS, SERVING
from gateway.api.ollama import protocol as p
from gateway.api.ollama.handlers import json_response, parse_body, untagged
from gateway.errors import ApiError
from gateway.serving.embeddings import Embeddings, EmbeddingResult

routes = web.RouteTableDef()


def _embeddings(request: web.Request, name: str) -> Embeddings:
    """The embedding model a client's `name[:tag]` means; Ollama's errors otherwise."""
    if not name:
        raise ApiError(400, "model is required", param="model")
    embeddings = request.app.get(EMBEDDINGS)
    if embeddings is None:
        raise ApiError(404, f"model '{name}' not found: this server has no embedding model "
                            "(setting embeddings.enabled is false)", param="model")
    base = untagged(name)
    if base == embeddings.served_model_name:
        return embeddings
    if base is not None and base in request.app[SERVING].model_names():
        raise ApiError(400, f"model '{name}' does not support embeddings; this server embeds with "
                            f"'{embeddings.served_model_name}'", param="model")
    raise ApiError(404, f"model '{name}' not found", param="model")


async def _embed(embeddings: Embeddings, req: Any) -> EmbeddingResult:
    embeddings.check_ready()  # the window is known once the model is loaded
    return await embeddings.embed(req.to_serving(embeddings.model.max_input_tokens))


def _ns(since: float) -> int:
    return int((time.perf_counter() - since) * 1e9)


@routes.post("/api/embed")
async def embed(request: web.Request) -> web.Response:
    t_request = time.perf_counter()
    req = await parse_body(request, p.EmbedRequest)
    p.Options(req.options)  # checked as Ollama checks them; none changes a vector
    embeddings = _embeddings(request, req.model)
    if req.input in (None, "", []):  # Ollama's "load the model" request: no input, no vectors
        embeddings.check_ready()
        return json_response({"model": req.model, "embeddings": []})
    result = await _embed(embeddings, req)
    return json_response({
        "model": req.model,
        "embeddings": result.vectors,
        "total_duration": _ns(t_request),
        "load_duration": 0,  # the model stays loaded for the server's lifetime
        "prompt_eval_count": result.prompt_tokens,
    })


@routes.post("/api/embeddings")
async def embeddings_legacy(request: web.Request) -> web.Response:
    req = await parse_body(request, p.EmbeddingsRequest)
    p.Options(req.options)
    embeddings = _embeddings(request, req.model)
    if not req.prompt:  # as Ollama answers an empty prompt
        embeddings.check_ready()
        return json_response({"embedding": []})
    result = await _embed(embeddings, req)
    return json_response({"embedding": result.vectors[0]})
