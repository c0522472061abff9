"""GET /v1/knowledge/collections: the knowledge bases a chat request can name in
`retrieval.collection` (the chat page's selector lists them). Read-only; under /v1/, so API keys
and the OpenAI error body apply as on every other /v1/ route."""
from __future__ import annotations

from typing import Literal, Optional

from aiohttp import web
from pydantic import BaseModel

from gateway.api.app_keys import SERVING

routes = web.RouteTableDef()


class KnowledgeCollection(BaseModel):
    id: str  # the name `retrieval.collection` takes (`oss-sidecar index --collection NAME`)
    object: Literal["knowledge.collection"]
    chunks: int
    embedding_model: Optional[str]  # the model its chunks were embedded with


class KnowledgeCollectionList(BaseModel):
    """Empty without chromadb (the `rag` extra), without an embedding model, or before any index."""

    object: Literal["list"]
    data: list[KnowledgeCollection]


@routes.get("/v1/knowledge/collections")
async def list_collections(request: web.Request) -> web.Response:
    knowledge = request.app[SERVING].knowledge
    found = await knowledge.collections() if knowledge is not None else []
    body = KnowledgeCollectionList(
        object="list",
        data=[KnowledgeCollection(id=c["name"], object="knowledge.collection", chunks=c["chunks"],
                                  embedding_model=c["embedding_model"]) for c in found],
    )
    return web.json_response(body.model_dump())
