"""OpenAI-compatible endpoints: thin handlers over gateway.schemas and gateway.serving."""
from __future__ import annotations

import json
import time
from typing import Any, Callable, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.engines.base import Delta
from gateway.errors import ApiError, bad_request, from_validation_error
from gateway.schemas import ChatCompletionRequest, CompletionRequest
from gateway.serving import Generation, Serving, new_request_id

routes = web.RouteTableDef()
SERVING = web.AppKey("serving", Serving)
M = TypeVar("M", bound=BaseModel)


async def parse_body(request: web.Request, model: type[M]) -> M:
    raw = await request.read()  # raises 413 past client_max_size
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise bad_request("the request body must be a JSON object", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise from_validation_error(err) from None


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


async def _stream(
    request: web.Request,
    generation: Generation,
    headers: dict[str, str],
    chunk: Callable[[int, Delta], dict[str, Any] | None],
    usage_base: dict[str, Any] | None,
) -> web.StreamResponse:
    """SSE of the generation; with `usage_base` (include_usage), a last chunk with the usage."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no", **headers}
    )
    await response.prepare(request)
    try:
        async for index, delta in generation:
            payload = chunk(index, delta)
            if payload is not None:
                await response.write(_sse(payload))
        if usage_base is not None:
            await response.write(_sse({**usage_base, "choices": [], "usage": generation.usage()}))
    except ApiError as exc:  # failed after the headers went out: say so in the stream
        await response.write(exc.sse_event())
    except ConnectionError:
        return response  # the client left; the generation was closed (and aborted) above
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def _common(request_id: str, obj: str, serving: Serving) -> dict[str, Any]:
    return {"id": request_id, "object": obj, "created": int(time.time()), "model": serving.served_model_name}


def _usage_base(req: Any, base: dict[str, Any]) -> dict[str, Any] | None:
    return base if req.stream_options and req.stream_options.include_usage else None


def _json(body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, headers=headers, dumps=lambda o: json.dumps(o, ensure_ascii=False))


@routes.post("/v1/chat/completions")
async def chat_completions(request: web.Request) -> web.StreamResponse:
    serving = request.app[SERVING]
    req = await parse_body(request, ChatCompletionRequest)
    serving.check_ready()
    serving.check_model(req.model)
    request_id = new_request_id("chatcmpl")
    async with serving.admitted():
        prepared = await serving.prepare_chat(req, request_id)
        generation = serving.generation(prepared)
        await generation.start()
        headers = {"X-History-Trimmed": str(prepared.dropped_messages)} if prepared.dropped_messages else {}
        base = _common(request_id, "chat.completion.chunk", serving)
        if req.stream:
            started: set[int] = set()

            def chunk(index: int, delta: Delta) -> dict[str, Any] | None:
                body: dict[str, Any] = {}
                if index not in started:
                    started.add(index)
                    body["role"] = "assistant"
                    body["content"] = ""
                if delta.text:
                    body["content"] = delta.text
                if delta.reasoning:
                    body["reasoning_content"] = delta.reasoning
                if not body and delta.finish_reason is None:
                    return None
                choice = {"index": index, "delta": body, "logprobs": None, "finish_reason": delta.finish_reason}
                return {**base, "choices": [choice]}

            return await _stream(request, generation, headers, chunk, _usage_base(req, base))
        async for _ in generation:
            pass
        choices = []
        for index, result in sorted(generation.results.items()):
            message: dict[str, Any] = {"role": "assistant", "content": "".join(result.text)}
            if result.reasoning:
                message["reasoning_content"] = "".join(result.reasoning)
            choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": result.finish_reason})
        body = {**_common(request_id, "chat.completion", serving), "choices": choices, "usage": generation.usage()}
        return _json(body, headers)


@routes.post("/v1/completions")
async def completions(request: web.Request) -> web.StreamResponse:
    serving = request.app[SERVING]
    req = await parse_body(request, CompletionRequest)
    serving.check_ready()
    serving.check_model(req.model)
    request_id = new_request_id("cmpl")
    async with serving.admitted():
        prepared = serving.prepare_completion(req, request_id)
        generation = serving.generation(prepared)
        await generation.start()
        echo = {c.index: c.echo_prefix for c in prepared.choices if c.echo_prefix}
        base = _common(request_id, "text_completion", serving)
        if req.stream:

            def chunk(index: int, delta: Delta) -> dict[str, Any] | None:
                text = echo.pop(index, "") + delta.text
                if not text and delta.finish_reason is None:
                    return None
                choice = {"index": index, "text": text, "logprobs": None, "finish_reason": delta.finish_reason}
                return {**base, "choices": [choice]}

            return await _stream(request, generation, {}, chunk, _usage_base(req, base))
        async for _ in generation:
            pass
        choices = [
            {
                "index": index,
                "text": echo.get(index, "") + "".join(result.text),
                "logprobs": None,
                "finish_reason": result.finish_reason,
            }
            for index, result in sorted(generation.results.items())
        ]
        return _json({**base, "choices": choices, "usage": generation.usage()})


@routes.get("/v1/models")
async def list_models(request: web.Request) -> web.Response:
    serving = request.app[SERVING]
    family = serving.fim_family
    model = {
        "id": serving.served_model_name,
        "object": "model",
        "created": 0,
        "owned_by": "oss-sidecar",
        "max_model_len": serving.engine.tokenizer.context_length if serving.status == "ready" else None,
        "fim_family": family.name if family else None,
        "fim_supports_files": bool(family and family.supports_files),
    }
    return web.json_response({"object": "list", "data": [model]})
