"""POST /v1/embeddings: decode OpenAI's embeddings request into the neutral one, encode the
vectors as floats or base64 (little-endian float32, what the openai SDK decodes)."""
from __future__ import annotations

import base64
import json
import struct
from typing import Optional

from aiohttp import web

from gateway.api.app_keys import EMBEDDINGS
from gateway.api.openai import protocol as p
from gateway.api.openai.handlers import parse_body
from gateway.errors import ApiError

routes = web.RouteTableDef()


def _base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def embeddings_of(request: web.Request):
    embeddings = request.app.get(EMBEDDINGS)
    if embeddings is None:
        raise ApiError(
            404, "this server has no embedding model (setting embeddings.enabled is false)",
            type="not_found_error", code="embeddings_disabled",
        )
    return embeddings


@routes.post("/v1/embeddings")
async def create_embeddings(request: web.Request) -> web.Response:
    embeddings = embeddings_of(request)
    req = await parse_body(request, p.EmbeddingCreateRequest)
    result = await embeddings.embed(req.to_serving())
    encode = _base64 if req.encoding_format == "base64" else list
    body = p.EmbeddingResponse(
        object="list",
        data=[p.EmbeddingData(object="embedding", index=i, embedding=encode(v)) for i, v in enumerate(result.vectors)],
        model=embeddings.served_model_name,
        usage=p.EmbeddingUsage(prompt_tokens=result.prompt_tokens, total_tokens=result.prompt_tokens),
    )
    return web.json_response(body.dump(), dumps=lambda o: json.dumps(o, separators=(",", ":")))


def embedding_model_cards(request: web.Request) -> list[p.EmbeddingModelCard]:
    """The embedding model's entry in GET /v1/models (none while it is disabled)."""
    embeddings: Optional[object] = request.app.get(EMBEDDINGS)
    if embeddings is None:
        return []
    ready = embeddings.status == "ready"
    return [
        p.EmbeddingModelCard(
            id=embeddings.served_model_name,
            object="model",
            created=0,
            owned_by="oss-sidecar",
            max_model_len=embeddings.model.max_input_tokens if ready else None,
            fim_family=None,
            fim_supports_files=False,
            dimensions=embeddings.model.dimensions,
        )
    ]
