"""OpenAI's Responses API: POST /v1/responses (decode into the serving core's ChatRequest; its
events as a response object or OpenAI's stream events), GET and DELETE /v1/responses/{id}."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, AsyncIterator, Optional

from aiohttp import web

from gateway.api.app_keys import SERVING
from gateway.api.openai.handlers import parse_body
from gateway.api.responses import protocol as p
from gateway.api.responses.store import STORE, Stored
from gateway.api.responses.stream import EventStream, new_id, output_items
from gateway.errors import ApiError, ContextLengthExceeded
from gateway.lifecycle import open_stream, request_guard
from gateway.serving import Run

routes = web.RouteTableDef()
log = logging.getLogger(__name__)

# Names the hosted tools (web_search, ...) a request listed and the model was not given.
OMITTED_TOOLS_HEADER = "X-Omitted-Tools"


def error_response(exc: ApiError) -> web.Response:
    return web.json_response(p.error_body(exc.message, exc.type, exc.param, exc.code), status=exc.status,
                             headers=exc.headers)


def _not_found(response_id: str) -> ApiError:
    # OpenAI's answer, word for word.
    return ApiError(404, f"Response with id '{response_id}' not found.")


def _json(body: dict[str, Any], headers: Optional[dict[str, str]] = None) -> web.Response:
    return web.json_response(body, headers=headers, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _skeleton(req: p.ResponsesRequest, response_id: str, model: str) -> dict[str, Any]:
    """The response object before any output: the request's settings, echoed as OpenAI does."""
    fmt = req.text.format.model_dump(by_alias=True, exclude_none=True) if req.text and req.text.format else {
        "type": "text"}
    choice = req.tool_choice if req.tool_choice is not None else "auto"
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens,
        "model": model,
        "output": [],
        "parallel_tool_calls": req.parallel_tool_calls is not False,
        "previous_response_id": req.previous_response_id,
        "reasoning": {"effort": req.reasoning.effort if req.reasoning else None,
                      "summary": req.reasoning.summary if req.reasoning else None},
        "store": req.store,
        "temperature": req.temperature,
        "text": {"format": fmt},
        "tool_choice": choice,
        "tools": req.tools or [],
        "top_p": req.top_p,
        "truncation": req.truncation or "disabled",
        "usage": None,
        "metadata": {},
    }


def _as_messages(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A response's output items as the assistant turn a follow-up continues from."""
    text = "".join(part["text"] for item in output if item["type"] == "message" for part in item["content"])
    calls = [
        {"id": item["call_id"], "type": "function", "function": {"name": item["name"], "arguments": item["arguments"]}}
        for item in output
        if item["type"] == "function_call"
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = calls
    return [message]


@contextlib.asynccontextmanager
async def _input_named() -> AsyncIterator[None]:
    """The serving core names the prompt `messages`; here it is `input`."""
    try:
        yield
    except ContextLengthExceeded as exc:
        if exc.param != "messages":
            raise
        raise ContextLengthExceeded(exc.prompt_tokens, exc.limit, "input") from None


@routes.post("/v1/responses")
async def create_response(request: web.Request) -> web.StreamResponse:
    serving = request.app[SERVING]
    store = request.app[STORE]
    req = await parse_body(request, p.ResponsesRequest)
    history: list[dict[str, Any]] = []
    if req.previous_response_id is not None:
        previous = store.get(req.previous_response_id)
        if previous is None:
            raise ApiError(
                400, f"Previous response with id '{req.previous_response_id}' not found.",
                param="previous_response_id", code="previous_response_not_found",
            )
        history = previous.conversation
    decoded = req.decode(history)
    headers: dict[str, str] = {}
    if decoded.omitted_tools:
        headers[OMITTED_TOOLS_HEADER] = ", ".join(decoded.omitted_tools)
    response_id = new_id("resp")
    response = _skeleton(req, response_id, serving.served_model_name)
    async with _input_named(), serving.chat(decoded.request, response_id) as run:
        if run.dropped_messages:
            headers["X-History-Trimmed"] = str(run.dropped_messages)
        if req.stream:
            answer = await _stream(request, run, EventStream(response, decoded.namespaces), headers)
        else:
            (result,) = await run.results()
            response["output"] = output_items(result, decoded.namespaces)
            incomplete = result.finish_reason == "length"
            response.update(
                status="incomplete" if incomplete else "completed",
                incomplete_details={"reason": "max_output_tokens"} if incomplete else None,
                usage=p.ResponseUsage.of(run.usage()).dump(),
            )
    if req.store and response["status"] != "in_progress":
        store.put(response_id, Stored(response, decoded.conversation + _as_messages(response["output"])))
    return answer if req.stream else _json(response, headers)


async def _stream(
    request: web.Request, run: Run, events: EventStream, headers: dict[str, str]
) -> web.StreamResponse:
    response, write = await open_stream(request, "text/event-stream", headers)
    guard = request_guard(request)
    finish_reason = None
    try:
        await write(events.start())
        async for event in run:
            data = events.feed(event)
            if data:
                await write(data)
            if event.finish_reason is not None:
                finish_reason = event.finish_reason
        await write(events.finish(finish_reason, p.ResponseUsage.of(run.usage()).dump()))
    except ApiError as exc:  # failed after the headers went out: say so in the stream
        await write(events.fail(exc))
    except ConnectionError:
        return response  # the client left; the run was closed (and aborted)
    except asyncio.CancelledError:  # ended by the server (request deadline, shutdown) or the client left
        reason = guard.taken() if guard is not None else None
        if reason is None:
            raise
        await write(events.fail(reason))
    await response.write_eof()
    return response


@routes.get("/v1/responses/{response_id}")
async def get_response(request: web.Request) -> web.Response:
    response_id = request.match_info["response_id"]
    stored = request.app[STORE].get(response_id)
    if stored is None:
        raise _not_found(response_id)
    return _json(stored.response)


@routes.delete("/v1/responses/{response_id}")
async def delete_response(request: web.Request) -> web.Response:
    response_id = request.match_info["response_id"]
    if not request.app[STORE].delete(response_id):
        raise _not_found(response_id)
    return _json({"id": response_id, "object": "response", "deleted": True})
