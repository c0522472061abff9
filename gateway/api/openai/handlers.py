"""OpenAI-compatible endpoints: decode the request into the serving core's neutral one, encode
its events as OpenAI's JSON answers and server-sent events."""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, Awaitable, Callable, Optional, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.api import json_body
from gateway.api.app_keys import SERVING
from gateway.api.openai import protocol as p
from gateway.errors import ApiError, bad_request, from_validation_error
from gateway.engines.base import ToolCallPiece
from gateway.lifecycle import open_stream, request_guard
from gateway.serving import ChoiceEvent, Run, Serving

routes = web.RouteTableDef()
M = TypeVar("M", bound=BaseModel)


async def json_object(request: web.Request) -> dict:
    """The request body as a JSON object (depth-checked), or a 400 saying why not."""
    raw = await request.read()  # raises 413 past client_max_size
    # A large body is decoded and checked in a worker thread (gateway/api/json_body.py).
    return await json_body.off_loop(raw, _decoded, raw, request.app[SERVING].settings.server.max_json_depth)


def _decoded(raw: bytes, max_depth: int) -> dict:
    try:
        data = json_body.decode(raw, max_depth)
    except json_body.JsonBodyError as exc:
        raise bad_request(str(exc), code="invalid_json") from None
    if not isinstance(data, dict):
        raise bad_request("the request body must be a JSON object", code="invalid_json")
    return data


async def parse_body(request: web.Request, model: type[M]) -> M:
    raw = await request.read()  # raises 413 past client_max_size
    return await json_body.off_loop(raw, _validated, raw, model, request.app[SERVING].settings.server.max_json_depth)


def _validated(raw: bytes, model: type[M], max_depth: int) -> M:
    try:
        return model.model_validate(_decoded(raw, max_depth))
    except ValidationError as err:
        raise from_validation_error(err) from None


def error_response(exc: ApiError) -> web.Response:
    return web.json_response(p.error_body(exc), status=exc.status, headers=exc.headers)


def _sse(payload: p.Out) -> bytes:
    return b"data: " + payload.dump_json() + b"\n\n"


def _json(body: p.Out, headers: Optional[dict[str, str]] = None) -> web.Response:
    return web.json_response(body.dump(), headers=headers, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def _stream(
    request: web.Request,
    run: Run,
    headers: dict[str, str],
    chunk: Callable[[ChoiceEvent], Optional[p.Out]],
    usage_chunk: Optional[Callable[[], p.Out]],
    first: Optional[p.Out] = None,
    opened: Optional[tuple[web.StreamResponse, Callable[[bytes], Awaitable[None]]]] = None,
) -> web.StreamResponse:
    """SSE of the run; with `usage_chunk` (include_usage), a last chunk with the usage. `opened`:
    the stream its sources already went out on (they do before the first token)."""
    response, write = opened or await open_stream(request, "text/event-stream", headers)
    guard = request_guard(request)
    try:
        if first is not None:
            await response.write(_sse(first))
        async for event in run:
            payload = chunk(event)
            if payload is not None:
                await write(_sse(payload))
        if usage_chunk is not None:
            await write(_sse(usage_chunk()))
    except ApiError as exc:  # failed after the headers went out: say so in the stream
        await write(p.error_event(exc))
    except ConnectionError:
        return response  # the client left; the run was closed (and aborted) above
    except asyncio.CancelledError:  # ended by the server (request deadline, shutdown) or the client left
        reason = guard.taken() if guard is not None else None
        if reason is None:
            raise
        await write(p.error_event(reason))
    await write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


@routes.post("/v1/chat/completions")
async def chat_completions(request: web.Request) -> web.StreamResponse:
    serving = request.app[SERVING]
    req = await parse_body(request, p.ChatCompletionRequest)
    request_id = _new_id("chatcmpl")
    common = dict(id=request_id, created=int(time.time()), model=serving.served_model_name)
    opened: list = []  # the stream, once the sources went out on it

    async def announce(run: Run) -> None:
        """Retrieval's sources, sent as soon as they are known: the prompt that holds them
        takes seconds to read on a CPU, and the reader sees what is being read meanwhile."""
        opened.append(await open_stream(request, "text/event-stream", _history_headers(run)))
        await opened[0][1](_sse(_sources_chunk(run, common)))

    try:
        return await _chat_answer(request, serving, req, request_id, common, announce if req.stream else None, opened)
    except ApiError as exc:
        if not opened:
            raise
        # The sources went out, then the engine refused or failed: the stream says so.
        response, write = opened[0]
        await write(p.error_event(exc))
        await write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
    except ConnectionError:
        if not opened:
            raise
        return opened[0][0]  # the client left while the sources went out; nothing was started


def _history_headers(run: Run) -> dict[str, str]:
    """The history window a trimmed history was fitted to, the messages dropped to fit it, and
    the prompt's token count where fitting counted it (the chat page's notice and numbers)."""
    headers = {"X-History-Trimmed": str(run.dropped_messages)} if run.dropped_messages else {}
    if run.history_window is not None:
        headers["X-History-Window"] = str(run.history_window)
    if run.counted_prompt_tokens is not None:
        headers["X-Prompt-Tokens"] = str(run.counted_prompt_tokens)
    return headers


def _sources_chunk(run: Run, common: dict) -> p.Out:
    return p.ChatCompletionChunk(
        object="chat.completion.chunk", choices=[], sources=[x.dump() for x in run.sources], **common
    )


async def _chat_answer(
    request: web.Request,
    serving: Serving,
    req: p.ChatCompletionRequest,
    request_id: str,
    common: dict,
    announce: Optional[Callable[[Run], Awaitable[None]]],
    opened: list,
) -> web.StreamResponse:
    async with serving.chat(req.to_serving(), request_id, announce) as run:
        headers = _history_headers(run)
        if req.stream:
            started: set[int] = set()

            def chunk(event: ChoiceEvent) -> Optional[p.Out]:
                delta: dict[str, Any] = {}
                if event.index not in started:
                    started.add(event.index)
                    delta.update(role="assistant", content="")
                if event.text:
                    delta["content"] = event.text
                if event.reasoning:
                    delta["reasoning_content"] = event.reasoning
                if event.tool_calls:
                    delta["tool_calls"] = [_tool_call_delta(piece) for piece in event.tool_calls]
                if not delta and event.finish_reason is None and not event.logprobs:
                    return None
                choice = p.ChunkChoice(
                    index=event.index,
                    delta=p.DeltaMessage(**delta),
                    logprobs=p.ChatLogprobs.of(event.logprobs) if event.logprobs else None,
                    finish_reason=event.finish_reason,
                )
                return p.ChatCompletionChunk(object="chat.completion.chunk", choices=[choice], **common)

            def usage_chunk() -> p.Out:
                usage = p.UsageInfo.of(run.usage())
                return p.ChatCompletionChunk(object="chat.completion.chunk", choices=[], usage=usage, **common)

            sources = _sources_chunk(run, common) if run.sources and not opened else None
            return await _stream(
                request, run, headers, chunk, usage_chunk if req.include_usage else None, sources,
                opened[0] if opened else None,
            )
        choices = [
            p.ChatChoice(
                index=result.index,
                message=p.AssistantMessage.of(result),
                logprobs=p.ChatLogprobs.of(result.logprobs) if result.logprobs is not None else None,
                finish_reason=result.finish_reason,
            )
            for result in await run.results()
        ]
        body = p.ChatCompletionResponse(
            id=request_id,
            object="chat.completion",
            created=int(time.time()),
            model=serving.served_model_name,
            choices=choices,
            usage=p.UsageInfo.of(run.usage()),
        )
        if run.sources:
            body.sources = [x.dump() for x in run.sources]
        return _json(body, headers)


@routes.post("/v1/completions")
async def completions(request: web.Request) -> web.StreamResponse:
    serving = request.app[SERVING]
    req = await parse_body(request, p.CompletionRequest)
    request_id = _new_id("cmpl")
    async with serving.complete(req.to_serving(), request_id) as run:
        common = dict(id=request_id, object="text_completion", created=int(time.time()), model=serving.served_model_name)
        if req.stream:
            offsets: dict[int, int] = {}

            def chunk(event: ChoiceEvent) -> Optional[p.Out]:
                if not event.text and event.finish_reason is None:
                    return None
                logprobs = None
                if req.logprobs is not None and event.logprobs:
                    # Offsets count from the choice's start, across chunks.
                    logprobs = p.CompletionLogprobs.of(event.logprobs, offsets.get(event.index, 0))
                offsets[event.index] = offsets.get(event.index, 0) + len(event.text)
                choice = p.CompletionChoice(
                    index=event.index, text=event.text, logprobs=logprobs, finish_reason=event.finish_reason
                )
                return p.CompletionChunk(choices=[choice], **common)

            def usage_chunk() -> p.Out:
                return p.CompletionChunk(choices=[], usage=p.UsageInfo.of(run.usage()), **common)

            return await _stream(request, run, {}, chunk, usage_chunk if req.include_usage else None)
        echo = req.echo
        choices = [
            p.CompletionChoice(
                index=r.index,
                text=r.text,
                logprobs=(
                    p.CompletionLogprobs.of(r.logprobs, len(r.text) - sum(len(e.token) for e in r.logprobs) if echo else 0)
                    if r.logprobs is not None
                    else None
                ),
                finish_reason=r.finish_reason,
            )
            for r in await run.results()
        ]
        return _json(p.CompletionResponse(choices=choices, usage=p.UsageInfo.of(run.usage()), **common))


def _tool_call_delta(piece: ToolCallPiece) -> p.ToolCallDelta:
    """OpenAI's streamed tool call: the first piece has id, type and name, later ones arguments."""
    if piece.id is not None or piece.name is not None:
        return p.ToolCallDelta(
            index=piece.index,
            id=piece.id,
            type="function",
            function=p.FunctionCallOut(name=piece.name, arguments=piece.arguments),
        )
    return p.ToolCallDelta(index=piece.index, function=p.FunctionCallOut(arguments=piece.arguments))


def _model_card(serving: Serving) -> p.ModelCard:
    family = serving.fim_family
    return p.ModelCard(
        id=serving.served_model_name,
        object="model",
        created=0,
        owned_by="oss-sidecar",
        max_model_len=serving.engine.tokenizer.context_length if serving.status == "ready" else None,
        fim_family=family.name if family else None,
        fim_supports_files=bool(family and family.supports_files),
    )


def _embedding_cards(request: web.Request) -> list[p.EmbeddingModelCard]:
    # Imported here: the embeddings handler module builds on this one.
    from gateway.api.openai.embeddings import embedding_model_cards

    return embedding_model_cards(request)


@routes.get("/v1/models")
async def list_models(request: web.Request) -> web.Response:
    serving: Serving = request.app[SERVING]
    body = p.ModelList(object="list", data=[_model_card(serving)]).dump()
    body["data"] += [card.dump() for card in _embedding_cards(request)]
    return web.json_response(body)


@routes.get("/v1/models/{model_id:.+}")
async def retrieve_model(request: web.Request) -> web.Response:
    serving: Serving = request.app[SERVING]
    model_id = request.match_info["model_id"]
    for card in _embedding_cards(request):
        if card.id == model_id.removesuffix(":latest"):  # Ollama's tag names the same model
            return web.json_response(card.dump())
    serving.check_model(model_id)
    return web.json_response(_model_card(serving).dump())
