"""GET /openapi.json: an OpenAPI 3.1 description of the HTTP API, generated from the same
pydantic models that validate requests and build answers (so it cannot drift from them).

Clients can generate code from it; the fuzzing suite (tests/security/test_fuzz_openapi.py)
drives the real server from it and checks every answer against it.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway.api.anthropic import protocol as a
from gateway.api.knowledge import KnowledgeCollectionList
from gateway.api.ollama import protocol as o
from gateway.api.openai import protocol as p
from gateway.api.openai import tokenize as t
from gateway.api.responses import protocol as r

routes = web.RouteTableDef()


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: Optional[str]
    code: Optional[str]


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer of the OpenAI paths, the Responses API and the operator
    endpoints (and the error event inside their streams)."""

    error: ErrorDetail


class AnthropicErrorDetail(BaseModel):
    type: str
    message: str


class AnthropicError(BaseModel):
    """Every 4xx and 5xx answer of /v1/messages (Anthropic's shape)."""

    type: Literal["error"]
    error: AnthropicErrorDetail


class OllamaError(BaseModel):
    """Every 4xx and 5xx answer of /api/* (Ollama's shape)."""

    error: str


class Health(BaseModel):
    status: str


# Statuses an API call may answer besides 200.
_ERRORS = {
    "400": "invalid request (the message names the field)",
    "401": "missing or wrong API key (only when the server has keys)",
    "403": "Host or Origin not allowed (server.allowed_hosts, server.cors_origins)",
    "404": "unknown model, or no such stored object",
    "413": "body larger than server.max_body_bytes",
    "415": "body not sent as application/json",
    "429": "overloaded: queue full or queue timeout (Retry-After)",
    "503": "model loading, engine stopped, or server shutting down (Retry-After)",
    "504": "request ran longer than server.request_timeout_s",
}
_GENERATION_ERRORS = tuple(_ERRORS)
_CALL_ERRORS = ("400", "401", "403", "404", "413", "415", "503", "504")
_READ_ERRORS = ("401", "403", "503")

# The pydantic models the document is generated from: requests in validation mode, answers
# in serialization mode.
_REQUESTS: list[type[BaseModel]] = [
    p.ChatCompletionRequest, p.CompletionRequest, p.EmbeddingCreateRequest,
    t.TokenizeCompletionRequest, t.TokenizeChatRequest, t.DetokenizeRequest,
    o.GenerateRequest, o.ChatRequestBody, o.ShowRequest, o.PullRequest, o.EmbedRequest, o.EmbeddingsRequest,
    r.ResponsesRequest, a.MessagesRequest, a.CountTokensRequest,
]
_ANSWERS: list[type[BaseModel]] = [
    p.ChatCompletionResponse, p.CompletionResponse, p.EmbeddingResponse, p.ModelCard, p.ModelList, KnowledgeCollectionList,
    t.TokenizeResponse, t.DetokenizeResponse, t.TokenizerInfo, a.MessageOut, a.TokenCount, r.ResponseUsage,
    ErrorResponse, AnthropicError, OllamaError, Health,
]

# Answers that are built as plain objects: the fields clients read, more may come.
_OLLAMA_DETAILS = {"type": "object", "properties": {"family": {"type": "string"}, "format": {"type": "string"}}}
_OLLAMA_MODEL = {
    "type": "object",
    "required": ["name", "model", "digest", "details"],
    "properties": {"name": {"type": "string"}, "model": {"type": "string"}, "size": {"type": "integer"},
                   "digest": {"type": "string"}, "details": _OLLAMA_DETAILS},
}
_HAND_WRITTEN: dict[str, dict[str, Any]] = {
    "OllamaGenerateAnswer": {
        "type": "object",
        "required": ["model", "created_at", "response", "done"],
        "properties": {"model": {"type": "string"}, "created_at": {"type": "string"}, "response": {"type": "string"},
                       "thinking": {"type": "string"}, "done": {"type": "boolean"}, "done_reason": {"type": "string"}},
    },
    "OllamaChatAnswer": {
        "type": "object",
        "required": ["model", "created_at", "message", "done"],
        "properties": {
            "model": {"type": "string"}, "created_at": {"type": "string"}, "done": {"type": "boolean"},
            "done_reason": {"type": "string"},
            "message": {"type": "object", "required": ["role", "content"],
                        "properties": {"role": {"const": "assistant"}, "content": {"type": "string"},
                                       "thinking": {"type": "string"}, "tool_calls": {"type": "array"}}},
        },
    },
    "OllamaEmbedAnswer": {
        "type": "object",
        "required": ["model", "embeddings"],
        "properties": {"model": {"type": "string"},
                       "embeddings": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}},
    },
    "OllamaEmbeddingAnswer": {
        "type": "object",
        "required": ["embedding"],
        "properties": {"embedding": {"type": "array", "items": {"type": "number"}}},
    },
    "OllamaVersion": {"type": "object", "required": ["version"], "properties": {"version": {"type": "string"}}},
    "OllamaModels": {"type": "object", "required": ["models"],
                     "properties": {"models": {"type": "array", "items": _OLLAMA_MODEL}}},
    "OllamaShow": {
        "type": "object",
        "required": ["modelfile", "parameters", "template", "details", "model_info", "capabilities"],
        "properties": {"modelfile": {"type": "string"}, "parameters": {"type": "string"},
                       "template": {"type": "string"}, "details": _OLLAMA_DETAILS, "model_info": {"type": "object"},
                       "capabilities": {"type": "array", "items": {"type": "string"}}},
    },
    "OllamaStatus": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
    "ResponseObject": {
        "type": "object",
        "required": ["id", "object", "created_at", "status", "model", "output"],
        "properties": {
            "id": {"type": "string"}, "object": {"const": "response"}, "created_at": {"type": "integer"},
            "status": {"enum": ["completed", "incomplete", "in_progress", "failed"]}, "model": {"type": "string"},
            "output": {"type": "array", "items": {"type": "object", "required": ["type"],
                                                  "properties": {"type": {"type": "string"}}}},
            "usage": {"anyOf": [{"$ref": "#/components/schemas/ResponseUsage"}, {"type": "null"}]},
        },
    },
    "ResponseDeleted": {
        "type": "object",
        "required": ["id", "object", "deleted"],
        "properties": {"id": {"type": "string"}, "object": {"const": "response"}, "deleted": {"const": True}},
    },
    "Stats": {"type": "object", "required": ["status", "engine", "requests"],
              "properties": {"status": {"type": "string"}, "engine": {"type": "string"},
                             "requests": {"type": "object"}}},
}

_SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string", "minLength": 1}, "event": {"type": "string"}},
}
_NDJSON_LINE = {"type": "object"}


def _schema(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(error: str, codes: tuple[str, ...]) -> dict[str, Any]:
    """The error answers of one API, each in that API's own body."""
    return {
        code: {"description": _ERRORS[code], "content": {"application/json": {"schema": _schema(error)}}}
        for code in codes
    }


def _post(summary: str, request: dict[str, Any], answers: dict[str, Any], error: str,
          codes: tuple[str, ...]) -> dict[str, Any]:
    return {
        "summary": summary,
        "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
        "responses": {"200": {"description": "the answer", "content": answers}, **_errors(error, codes)},
    }


def _get(summary: str, answer: dict[str, Any], error: str, codes: tuple[str, ...] = _READ_ERRORS,
         content_type: str = "application/json") -> dict[str, Any]:
    return {
        "summary": summary,
        "responses": {"200": {"description": "the answer", "content": {content_type: {"schema": answer}}},
                      **_errors(error, codes)},
    }


def _id_parameter(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def build() -> dict[str, Any]:
    refs, defs = models_json_schema(
        [(m, "validation") for m in _REQUESTS] + [(m, "serialization") for m in _ANSWERS],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = {**defs.get("$defs", {}), **_HAND_WRITTEN}

    def req(model: type[BaseModel]) -> dict[str, Any]:
        return dict(refs[(model, "validation")])

    def ans(model: type[BaseModel]) -> dict[str, Any]:
        return dict(refs[(model, "serialization")])

    def json_or_sse(answer: dict[str, Any]) -> dict[str, Any]:
        # With `stream: true`: server-sent events, each `data:` one chunk as JSON.
        return {"application/json": {"schema": answer}, "text/event-stream": {"schema": _SSE_EVENT}}

    def json_or_ndjson(answer: dict[str, Any]) -> dict[str, Any]:
        # Ollama streams by default: one JSON object a line.
        return {"application/json": {"schema": answer}, "application/x-ndjson": {"schema": _NDJSON_LINE}}

    openai_error, ollama_error, anthropic_error = "ErrorResponse", "OllamaError", "AnthropicError"
    paths: dict[str, Any] = {
        # ---- OpenAI (and vLLM's tokenizer endpoints) ----
        "/v1/chat/completions": {"post": _post(
            "chat completion", req(p.ChatCompletionRequest), json_or_sse(ans(p.ChatCompletionResponse)),
            openai_error, _GENERATION_ERRORS)},
        "/v1/completions": {"post": _post(
            "text completion, fill-in-the-middle with `suffix`", req(p.CompletionRequest),
            json_or_sse(ans(p.CompletionResponse)), openai_error, _GENERATION_ERRORS)},
        "/v1/embeddings": {"post": _post(
            "embeddings of one or more inputs", req(p.EmbeddingCreateRequest),
            {"application/json": {"schema": ans(p.EmbeddingResponse)}}, openai_error, _GENERATION_ERRORS)},
        "/v1/models": {"get": _get("the served models", ans(p.ModelList), openai_error)},
        "/v1/models/{model_id}": {"get": {
            **_get("one served model", ans(p.ModelCard), openai_error, ("401", "403", "404", "503")),
            "parameters": [_id_parameter("model_id", "the model's name")],
        }},
        "/tokenize": {"post": _post(
            "the served model's tokens of a prompt, or of a chat after its template (vLLM's shape)",
            {"anyOf": [req(t.TokenizeCompletionRequest), req(t.TokenizeChatRequest)]},
            {"application/json": {"schema": ans(t.TokenizeResponse)}}, openai_error, _CALL_ERRORS)},
        "/detokenize": {"post": _post(
            "the text of token ids (vLLM's shape)", req(t.DetokenizeRequest),
            {"application/json": {"schema": ans(t.DetokenizeResponse)}}, openai_error, _CALL_ERRORS)},
        "/tokenizer_info": {"get": _get(
            "the served model's tokenizer settings and chat template (vLLM's shape)", ans(t.TokenizerInfo),
            openai_error, ("401", "403", "404", "503"))},
        # ---- OpenAI's Responses API ----
        "/v1/responses": {"post": _post(
            "a response (OpenAI's Responses API); stored for `previous_response_id` unless `store: false`",
            req(r.ResponsesRequest), json_or_sse(_schema("ResponseObject")), openai_error, _GENERATION_ERRORS)},
        "/v1/responses/{response_id}": {
            "parameters": [_id_parameter("response_id", "a stored response's id")],
            "get": _get("a stored response", _schema("ResponseObject"), openai_error, ("401", "403", "404")),
            "delete": _get("forget a stored response", _schema("ResponseDeleted"), openai_error,
                           ("401", "403", "404")),
        },
        # ---- Anthropic's Messages API ----
        "/v1/messages": {"post": _post(
            "a message (Anthropic's Messages API)", req(a.MessagesRequest), json_or_sse(ans(a.MessageOut)),
            anthropic_error, _GENERATION_ERRORS)},
        "/v1/messages/count_tokens": {"post": _post(
            "the input tokens a message request would use", req(a.CountTokensRequest),
            {"application/json": {"schema": ans(a.TokenCount)}}, anthropic_error, _CALL_ERRORS)},
        # ---- Ollama ----
        "/api/generate": {"post": _post(
            "Ollama's generate (prompt, or fill-in-the-middle with `suffix`)", req(o.GenerateRequest),
            json_or_ndjson(_schema("OllamaGenerateAnswer")), ollama_error, _GENERATION_ERRORS)},
        "/api/chat": {"post": _post(
            "Ollama's chat", req(o.ChatRequestBody), json_or_ndjson(_schema("OllamaChatAnswer")), ollama_error,
            _GENERATION_ERRORS)},
        "/api/embed": {"post": _post(
            "Ollama's embeddings of one or more inputs", req(o.EmbedRequest),
            {"application/json": {"schema": _schema("OllamaEmbedAnswer")}}, ollama_error, _GENERATION_ERRORS)},
        "/api/embeddings": {"post": _post(
            "Ollama's older embedding of one prompt", req(o.EmbeddingsRequest),
            {"application/json": {"schema": _schema("OllamaEmbeddingAnswer")}}, ollama_error, _GENERATION_ERRORS)},
        "/api/show": {"post": _post(
            "a served model's details", req(o.ShowRequest), {"application/json": {"schema": _schema("OllamaShow")}},
            ollama_error, _CALL_ERRORS)},
        "/api/pull": {"post": _post(
            "a pull of a served model (it is up to date; nothing is downloaded)", req(o.PullRequest),
            json_or_ndjson(_schema("OllamaStatus")), ollama_error, _CALL_ERRORS)},
        "/api/version": {"get": _get("the Ollama version this server speaks", _schema("OllamaVersion"),
                                     ollama_error)},
        "/api/tags": {"get": _get("the served models", _schema("OllamaModels"), ollama_error)},
        "/api/ps": {"get": _get("the loaded models", _schema("OllamaModels"), ollama_error)},
        # ---- knowledge bases ----
        "/v1/knowledge/collections": {"get": _get(
            "the knowledge bases `retrieval.collection` can name (empty without chromadb)",
            ans(KnowledgeCollectionList), openai_error)},
        # ---- operator endpoints ----
        "/health": {"get": {
            "summary": "ready (200) or loading / dead (503)",
            "responses": {
                "200": {"description": "ready", "content": {"application/json": {"schema": ans(Health)}}},
                "503": {
                    "description": "loading or dead; an error body while shutting down",
                    "content": {"application/json": {"schema": {"anyOf": [ans(Health), _schema(openai_error)]}}},
                },
                **_errors(openai_error, ("403",)),
            },
        }},
        "/metrics": {"get": _get("Prometheus metrics", {"type": "string"}, openai_error, ("401", "403"),
                                 content_type="text/plain")},
        "/": {"get": _get("the chat page", {"type": "string"}, openai_error, ("403", "404"),
                          content_type="text/html")},
        "/openapi.json": {"get": _get("this document", {"type": "object", "required": ["openapi", "paths"]},
                                      openai_error, ("403",))},
        "/v1/stats": {"get": _get("the server's state, load and counters", _schema("Stats"), openai_error,
                                  ("401", "403"))},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "oss-sidecar",
            "version": "1",
            "description": "A local model behind OpenAI's, OpenAI's Responses, Anthropic's Messages and Ollama's APIs "
                           "(docs/PROTOCOL.md). Each API answers errors in its own shape.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }


_DOCUMENT: Optional[dict[str, Any]] = None


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    global _DOCUMENT
    if _DOCUMENT is None:
        _DOCUMENT = build()
    return web.json_response(_DOCUMENT)
