"""Anthropic's Messages API: decode the request into the serving core's neutral one, encode its
events as Anthropic's message and its server-sent events (stream.py)."""
from __future__ import annotations

import asyncio
import json
import uuid
from typing import Awaitable, Callable, Optional

from aiohttp import web

from gateway.api.anthropic import protocol as p
from gateway.api.anthropic import stream as s
from gateway.api.anthropic.stop_sequences import StopMatcher
from gateway.api.app_keys import SERVING
from gateway.api.openai.handlers import parse_body
from gateway.errors import ApiError
from gateway.lifecycle import open_stream, request_guard
from gateway.serving import Run, Serving, Usage

routes = web.RouteTableDef()
# Finish reasons of the serving core as Anthropic's stop reasons.
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
# A stream whose first token is this late (a long prompt being read) starts with message_start
# and pings while it waits.
FIRST_EVENT_AFTER_S = 2.0
PING_EVERY_S = 10.0


def error_response(exc: ApiError) -> web.Response:
    return web.json_response(p.error_body(exc), status=exc.status, headers=exc.headers)


def _headers(req: p.MessagesRequest, run: Optional[Run]) -> dict[str, str]:
    headers = {}
    if run is not None and run.dropped_messages:
        headers["X-History-Trimmed"] = str(run.dropped_messages)
    omitted = req.omitted_tools()
    if omitted:  # tools Anthropic runs on its side: the model was not shown them
        headers["X-Omitted-Tools"] = ", ".join(omitted)
    return headers


async def _usage(serving: Serving, run: Run, req: p.MessagesRequest, blocks: s.MessageBlocks,
                 matcher: StopMatcher) -> p.UsageOut:
    """The run's usage; a run stopped here on a stop sequence never got the engine's count, so
    its prompt is counted by the tokenizer and its output is the pieces streamed."""
    if matcher.matched is None:
        return p.UsageOut.of(run.usage())
    prompt = await serving.engine.tokenizer.count_chat(req.neutral_messages())
    return p.UsageOut.of(Usage(prompt_tokens=prompt, completion_tokens=blocks.output_pieces))


def _stop(finish_reason: Optional[str], matcher: StopMatcher, blocks: s.MessageBlocks) -> tuple[str, Optional[str]]:
    if matcher.matched is not None:
        return "stop_sequence", matcher.matched
    reason = STOP_REASONS.get(finish_reason or "stop", "end_turn")
    if reason == "end_turn" and blocks.called_tools:
        reason = "tool_use"
    return reason, None


async def _feed(
    run: Run, blocks: s.MessageBlocks, matcher: StopMatcher,
    write: Optional[Callable[[bytes], Awaitable[None]]] = None,
) -> Optional[str]:
    """The run's events into the message's blocks (and, streaming, their events through
    `write`) until it finishes or a stop sequence matches; its finish reason."""
    finish = None
    async for event in run:
        out = blocks.reasoning(event.reasoning) + blocks.text(matcher.feed(event.text))
        for piece in event.tool_calls:
            out += blocks.tool_call(piece)
        if out and write is not None:
            await write(out)
        finish = event.finish_reason or finish
        if matcher.matched is not None:
            await run.aclose()  # stops the engine
            break
    return finish


@routes.post("/v1/messages")
async def create_message(request: web.Request) -> web.StreamResponse:
    serving = request.app[SERVING]
    req = await parse_body(request, p.MessagesRequest)
    message_id = f"msg_{uuid.uuid4().hex}"
    show = not (req.thinking and req.thinking.display == "omitted")
    blocks = s.MessageBlocks(stream=req.stream, thinking=req.thinking_on, show_thinking=show)
    matcher = StopMatcher(req.stop_sequences or [])
    if req.stream:
        return await _stream(request, serving, req, blocks, matcher, message_id)
    async with serving.chat(req.to_serving(), message_id) as run:
        finish = await _feed(run, blocks, matcher)
        blocks.text(matcher.flush())
        blocks.finish()
        stop_reason, stop_sequence = _stop(finish, matcher, blocks)
        body = p.MessageOut(
            id=message_id, model=serving.served_model_name, content=blocks.content(), stop_reason=stop_reason,
            stop_sequence=stop_sequence, usage=await _usage(serving, run, req, blocks, matcher),
        )
        return web.json_response(body.dump(), headers=_headers(req, run),
                                 dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def _stream(
    request: web.Request, serving: Serving, req: p.MessagesRequest, blocks: s.MessageBlocks,
    matcher: StopMatcher, message_id: str,
) -> web.StreamResponse:
    """The message as Anthropic's events. A prompt that fails at once (too long, overload, an
    unknown model) gets its status; one the engine is still reading after FIRST_EVENT_AFTER_S
    gets `message_start` and then a `ping` every PING_EVERY_S, as Anthropic sends them: agents
    drop a connection on which nothing arrives for minutes (Claude Code's idle limit), and a
    long prompt on a CPU takes that long. A failure after that is an `error` event."""
    opening = serving.chat(req.to_serving(), message_id)
    starting = asyncio.ensure_future(opening.__aenter__())
    response: Optional[web.StreamResponse] = None
    write = None
    try:
        done, _ = await asyncio.wait({starting}, timeout=FIRST_EVENT_AFTER_S)
        if not done:
            response, write = await open_stream(request, "text/event-stream", _headers(req, None))
            await write(s.message_start(message_id, serving.served_model_name) + s.PING)
            while not (await asyncio.wait({starting}, timeout=PING_EVERY_S))[0]:
                await write(s.PING)
        run = starting.result()  # raises the ApiError of a request that failed before its first token
    except ApiError as exc:
        if response is None:
            raise
        await write(p.error_event(exc))
        await response.write_eof()
        return response
    except BaseException as exc:
        if not starting.done():
            starting.cancel()  # the client left, or the server ended it, while the prompt was read
        elif not starting.cancelled() and starting.exception() is None:
            await opening.__aexit__(None, None, None)
        guard = request_guard(request)
        reason = guard.taken() if guard is not None and isinstance(exc, asyncio.CancelledError) else None
        if reason is None or response is None:
            raise
        await write(p.error_event(reason))  # the request deadline or a shutdown, said in the stream
        await response.write_eof()
        return response
    try:
        if response is None:
            response, write = await open_stream(request, "text/event-stream", _headers(req, run))
            await write(s.message_start(message_id, serving.served_model_name) + s.PING)
        finish = await _feed(run, blocks, matcher, write)
        out = blocks.text(matcher.flush()) + blocks.finish()
        stop_reason, stop_sequence = _stop(finish, matcher, blocks)
        usage = await _usage(serving, run, req, blocks, matcher)
        await write(out + s.message_delta(stop_reason, stop_sequence, usage) + s.MESSAGE_STOP)
    except ApiError as exc:  # failed after the headers went out: say so in the stream
        await write(p.error_event(exc))
    except ConnectionError:
        return response  # the client left; the run is closed (and aborted) below
    except asyncio.CancelledError:  # ended by the server (request deadline, shutdown) or the client left
        guard = request_guard(request)
        reason = guard.taken() if guard is not None else None
        if reason is None:
            raise
        await write(p.error_event(reason))
    finally:
        await opening.__aexit__(None, None, None)
    await response.write_eof()
    return response


@routes.post("/v1/messages/count_tokens")
async def count_tokens(request: web.Request) -> web.Response:
    """The prompt's tokens as the model would see them: the conversation through the chat
    template, plus the tools' definitions (an estimate, as Anthropic's is: templates render
    tools in their own words)."""
    serving: Serving = request.app[SERVING]
    req = await parse_body(request, p.CountTokensRequest)
    serving.check_ready()
    serving.check_model(req.model)
    req.neutral_tool_choice()  # the same checks as a message
    tokenizer = serving.engine.tokenizer
    count = await tokenizer.count_chat(req.neutral_messages())
    tools = req.model_tools()
    if tools:
        count += await tokenizer.count(json.dumps(tools, ensure_ascii=False))
    return web.json_response(p.TokenCount(input_tokens=count).dump())
