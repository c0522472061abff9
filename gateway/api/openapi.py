"""GET /openapi.json: an OpenAPI 3.1 description of the HTTP API, generated from the same
pydantic models that validate requests and build answers (so it cannot drift from them).

Clients can generate code from it; the fuzzing suite (tests/security/test_fuzz_openapi.py)
drives the real server from it and checks every answer against it.
"""
from __future__ import annotations

from typing import Any, Optional

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway.api.knowledge import KnowledgeCollectionList
from gateway.api.openai import protocol as p
from gateway.api.openai import tokenize as t

routes = web.RouteTableDef()


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: Optional[str]
    code: Optional[str]


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer (and the error event inside a stream)."""

    error: ErrorDetail


class Health(BaseModel):
    status: str


# Statuses an API call may answer besides 200, each with the error body.
_ERRORS = {
    "400": "invalid request (the message and `param` name the field)",
    "401": "missing or wrong API key (only when the server has keys)",
    "403": "Host or Origin not allowed (server.allowed_hosts, server.cors_origins)",
    "404": "unknown model",
    "413": "body larger than server.max_body_bytes",
    "415": "body not sent as application/json",
    "429": "overloaded: queue full or queue timeout (Retry-After)",
    "503": "model loading, engine stopped, or server shutting down (Retry-After)",
    "504": "request ran longer than server.request_timeout_s",
}
_MODELS: list[type[BaseModel]] = [
    p.ChatCompletionRequest, p.CompletionRequest, p.ChatCompletionResponse, p.CompletionResponse,
    p.ModelList, KnowledgeCollectionList, ErrorResponse, Health,
    t.TokenizeCompletionRequest, t.TokenizeChatRequest, t.TokenizeResponse, t.DetokenizeRequest, t.DetokenizeResponse,
]


_SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string", "minLength": 1}, "event": {"type": "string"}},
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _error_responses(codes: tuple[str, ...]) -> dict[str, Any]:
    return {
        code: {"description": _ERRORS[code], "content": {"application/json": {"schema": _ref(ErrorResponse)}}}
        for code in codes
    }


def _generation(summary: str, request: type[BaseModel], response: type[BaseModel]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(request)}}},
            "responses": {
                "200": {
                    "description": "the answer; with `stream: true`, server-sent events of chunks ending in `data: [DONE]`",
                    "content": {
                        "application/json": {"schema": _ref(response)},
                        # Each event: `data:` holds one chunk as JSON, or `[DONE]` last.
                        "text/event-stream": {"schema": _SSE_EVENT},
                    },
                },
                **_error_responses(tuple(_ERRORS)),
            },
        }
    }


def _json_call(summary: str, request: dict[str, Any], response: type[BaseModel]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
            "responses": {
                "200": {"description": "the answer", "content": {"application/json": {"schema": _ref(response)}}},
                **_error_responses(("400", "401", "403", "404", "413", "415", "503", "504")),
            },
        }
    }


def build() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for mode in ("validation", "serialization"):
        wanted = [m for m in _MODELS if (m.__name__.endswith("Request")) == (mode == "validation")]
        _, defs = models_json_schema([(m, mode) for m in wanted], ref_template="#/components/schemas/{model}")
        schemas.update(defs.get("$defs", {}))
    return {
        "openapi": "3.1.0",
        "info": {"title": "oss-sidecar", "version": "1", "description": "OpenAI-compatible API of a local model (docs/PROTOCOL.md)."},
        "paths": {
            "/v1/chat/completions": _generation("chat completion", p.ChatCompletionRequest, p.ChatCompletionResponse),
            "/v1/completions": _generation("text completion, fill-in-the-middle with `suffix`", p.CompletionRequest, p.CompletionResponse),
            "/v1/models": {
                "get": {
                    "summary": "the served model",
                    "responses": {
                        "200": {"description": "the model list", "content": {"application/json": {"schema": _ref(p.ModelList)}}},
                        **_error_responses(("401", "403", "503")),
                    },
                }
            },
            "/v1/knowledge/collections": {
                "get": {
                    "summary": "the knowledge bases `retrieval.collection` can name (empty without chromadb)",
                    "responses": {
                        "200": {
                            "description": "the knowledge bases, by name",
                            "content": {"application/json": {"schema": _ref(KnowledgeCollectionList)}},
                        },
                        **_error_responses(("401", "403", "503")),
                    },
                }
            },
            "/tokenize": _json_call(
                "the served model's tokens of a prompt, or of a chat after its template (vLLM's shape)",
                {"anyOf": [_ref(t.TokenizeCompletionRequest), _ref(t.TokenizeChatRequest)]},
                t.TokenizeResponse,
            ),
            "/detokenize": _json_call("the text of token ids (vLLM's shape)", _ref(t.DetokenizeRequest), t.DetokenizeResponse),
            "/health": {
                "get": {
                    "summary": "ready (200) or loading / dead (503)",
                    "responses": {
                        "200": {"description": "ready", "content": {"application/json": {"schema": _ref(Health)}}},
                        "503": {
                            "description": "loading or dead; an error body while shutting down",
                            "content": {"application/json": {"schema": {"anyOf": [_ref(Health), _ref(ErrorResponse)]}}},
                        },
                        **_error_responses(("403",)),
                    },
                }
            },
        },
        "components": {"schemas": schemas},
    }


_DOCUMENT: Optional[dict[str, Any]] = None


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    global _DOCUMENT
    if _DOCUMENT is None:
        _DOCUMENT = build()
    return web.json_response(_DOCUMENT)
