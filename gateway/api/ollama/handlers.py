"""Ollama-compatible endpoints: decode Ollama's requests into the serving core's neutral ones,
encode its events as Ollama's JSON answers and NDJSON streams (one object per line, the last
with `done: true`, the reason and the numbers)."""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any, AsyncContextManager, Callable, Optional, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.api import json_body
from gateway.api.app_keys import EMBEDDINGS, SERVING
from gateway.api.ollama import protocol as p
from gateway.api.ollama import tool_calls
from gateway.engines.base import ModelMetadata
from gateway.errors import ApiError, from_validation_error
from gateway.lifecycle import open_stream
from gateway.serving import Run, Serving
from gateway.serving.embeddings import Embeddings

routes = web.RouteTableDef()
M = TypeVar("M", bound=BaseModel)
TAG = "latest"
# The served model's modified_at: when this server started serving it.
STARTED_AT = p.now()


def error_response(exc: ApiError) -> web.Response:
    return web.json_response(p.error_body(exc), status=exc.status, headers=exc.headers)


async def parse_body(request: web.Request, model: type[M]) -> M:
    raw = await request.read()  # raises 413 past client_max_size
    # A large body is decoded and checked in a worker thread (gateway/api/json_body.py).
    return await json_body.off_loop(raw, _validated, raw, model, request.app[SERVING].settings.server.max_json_depth)


def _validated(raw: bytes, model: type[M], max_depth: int) -> M:
    if not raw.strip():
        raise ApiError(400, "missing request body")
    try:  # depth checked before parsing, lone surrogates replaced (gateway/api/json_body.py)
        data = json_body.decode(raw, max_depth)
    except json_body.JsonBodyError as exc:
        raise ApiError(400, str(exc)) from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        if first["type"] == "extra_forbidden":
            field = ".".join(str(x) for x in first["loc"])
            raise ApiError(400, f"unknown field: {field}", param=field) from None
        raise from_validation_error(err) from None


def untagged(name: str) -> Optional[str]:
    """The model a client's `name[:tag]` names: served models answer with no tag or `latest`."""
    base, _, tag = name.rpartition(":") if ":" in name else (name, "", "")
    return None if tag and tag != TAG else base


def _served_name(serving: Serving, name: str) -> Optional[str]:
    """The served model a client's `name[:tag]` means, or None. The served model answers to its
    id (and the other names the OpenAI API accepts), with no tag or the tag `latest`."""
    base = untagged(name)
    return base if base in serving.model_names() else None


def _model(serving: Serving, name: str, *, required: str = "") -> None:
    """Ollama's answers for a missing or unknown model name; readiness first, as serving does."""
    serving.check_ready()
    if not name and required:
        raise ApiError(400, required, param="model")
    if _served_name(serving, name) is None:
        raise ApiError(404, f"model '{name}' not found", param="model")


def _display_name(serving: Serving) -> str:
    return f"{serving.served_model_name}:{TAG}"


def _digest(serving: Serving) -> str:
    # An identifier of what is served (Ollama's is its manifest's sha256); not a hash of the weights.
    return hashlib.sha256(f"{serving.engine.name}:{serving.served_model_name}".encode()).hexdigest()


async def _metadata(serving: Serving) -> Optional[ModelMetadata]:
    return await serving.engine.model_metadata() if serving.current_status() == "ready" else None


def _details(serving: Serving, meta: Optional[ModelMetadata]) -> dict[str, Any]:
    ready = serving.current_status() == "ready"
    return _details_of(meta, serving.engine.tokenizer.context_length if ready else None)


def _details_of(meta: Optional[ModelMetadata], context_length: Optional[int]) -> dict[str, Any]:
    """Ollama's `details`, from the model file's own metadata where the engine has one."""
    details = p.ModelDetails(context_length=context_length)
    if meta is not None:
        family = str(meta.values.get("general.architecture") or "")
        details = details.model_copy(update=dict(
            format=meta.format, family=family, families=[family] if family else None,
            parameter_size=p.human_number(meta.parameter_count), quantization_level=meta.quantization,
        ))
    return details.model_dump(exclude_none=True)


def _capabilities(serving: Serving) -> list[str]:
    # "insert": the model has FIM tokens (suffix still works without them, through the fallback).
    # "tools": the model may call tools on its own; clients send `tools` only to models that have it.
    return ["completion", *(["tools"] if serving.engine.calls_tools else []),
            *(["insert"] if serving.fim_family else [])]


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(obj: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=_dump(obj), status=status, content_type="application/json", charset="utf-8")


def _metrics(run: Run, t_request: float) -> dict[str, int]:
    timing, usage = run.timing, run.usage()
    finished = timing.finished or time.perf_counter()
    first = timing.first_output or finished

    def ns(seconds: float) -> int:
        return max(0, int(seconds * 1e9))

    return p.Metrics(
        total_duration=ns(finished - t_request),
        # Ollama counts the wait for a loaded runner here; the gateway's model is loaded, so
        # it is the wait for an admission slot and the prompt's preparation.
        load_duration=ns(timing.started - t_request),
        prompt_eval_count=usage.prompt_tokens,
        prompt_eval_duration=ns(first - timing.started),
        eval_count=usage.completion_tokens,
        eval_duration=ns(finished - first),
    ).model_dump()


# Ollama answers a tool call with done_reason "stop".
_DONE_REASONS = {"tool_calls": "stop"}


def _done_reason(finish: Optional[str]) -> str:
    return _DONE_REASONS.get(finish or "stop", finish or "stop")


Piece = Callable[[str, str, list[dict[str, Any]]], dict[str, Any]]


class _SourcesFirst:
    """A streamed answer's retrieval sources, in a first line sent before the engine reads the
    prompt (`Serving.chat`'s announce): seconds on a CPU. What fails after it goes in the stream."""

    def __init__(self, request: web.Request, model: str, piece: Piece):
        self.request, self.model, self.piece = request, model, piece
        self.stream: Optional[tuple[web.StreamResponse, Callable]] = None

    async def __call__(self, run: Run) -> None:
        self.stream = await open_stream(self.request, "application/x-ndjson")
        first = {"model": self.model, "created_at": p.now(), **self.piece("", "", []), "done": False,
                 "sources": [s.dump() for s in run.sources]}
        await self.stream[1](_dump(first) + b"\n")

    async def failed(self, exc: Exception) -> web.StreamResponse:
        """After the sources' line: an error line, or nothing more for a client that left."""
        response, write = self.stream
        if isinstance(exc, ConnectionError):
            return response
        await write(_dump(p.error_body(exc)) + b"\n")
        await response.write_eof()
        return response


async def _answer(
    request: web.Request,
    run: Run,
    model: str,
    streaming: bool,
    piece: Piece,
    t_request: float,
    logprobs: Optional[int] = None,
    opened: Optional[tuple[web.StreamResponse, Callable]] = None,
) -> web.StreamResponse:
    """The run as NDJSON lines or as one object. `piece(text, thinking, tool_calls)` is the body
    of a line without the common fields; `model` is the name the client asked for, as Ollama
    echoes it. Retrieval's sources come in the answer, or in a first line of their own; with
    `logprobs` (the alternatives asked for), each line carries its tokens' log probabilities."""
    sources = [s.dump() for s in run.sources]

    def with_logprobs(body: dict[str, Any], entries: Optional[list]) -> dict[str, Any]:
        if logprobs is not None and entries:
            body["logprobs"] = p.logprobs_body(entries, logprobs > 0)
        return body

    if not streaming:
        results = await run.results()
        result = results[0]
        calls, cut = tool_calls.encode(result.tool_calls)
        body = with_logprobs({"model": model, "created_at": p.now(), **piece(result.text + cut, result.reasoning, calls)},
                             result.logprobs)
        body.update(done=True, done_reason=_done_reason(result.finish_reason), **_metrics(run, t_request))
        if sources:
            body["sources"] = sources
        return json_response(body)
    # A reader that stops reading loses the stream (server.write_timeout_s).
    response, write = opened or await open_stream(request, "application/x-ndjson")
    finish: Optional[str] = None
    streamed = tool_calls.StreamedCalls()
    try:
        if sources and opened is None:
            first = {"model": model, "created_at": p.now(), **piece("", "", []), "done": False, "sources": sources}
            await write(_dump(first) + b"\n")
        async for event in run:
            complete = streamed.feed(event.tool_calls) if event.tool_calls else []
            if event.finish_reason is not None:
                finish = event.finish_reason
                complete += streamed.finish()
            calls, cut = tool_calls.encode(complete, streamed.handed_out - len(complete))
            text = event.text + cut
            if text or event.reasoning or calls or (logprobs is not None and event.logprobs):
                line = with_logprobs({"model": model, "created_at": p.now(), **piece(text, event.reasoning, calls)},
                                     event.logprobs)
                line["done"] = False
                await write(_dump(line) + b"\n")
        last = {"model": model, "created_at": p.now(), **piece("", "", []), "done": True,
                "done_reason": _done_reason(finish), **_metrics(run, t_request)}
        await write(_dump(last) + b"\n")
    except ApiError as exc:  # failed after the headers went out: Ollama's error line
        await write(_dump(p.error_body(exc)) + b"\n")
    except ConnectionError:
        return response  # the client left; the run was closed (and aborted) above
    await response.write_eof()
    return response


def _request_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


@routes.post("/api/generate")
async def generate(request: web.Request) -> web.StreamResponse:
    t_request = time.perf_counter()
    serving: Serving = request.app[SERVING]
    req = await parse_body(request, p.GenerateRequest)
    options = p.Options(req.options)
    req.refusals()
    _model(serving, req.model)
    show_thinking = req.show_thinking

    def piece(text: str, thinking: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"response": text}  # no tools on /api/generate: no calls
        if thinking and show_thinking:
            out["thinking"] = thinking
        return out

    if not req.prompt and not req.suffix:
        # Ollama's "load the model" request: it is loaded already.
        return json_response({"model": req.model, "created_at": p.now(), "response": "", "done": True, "done_reason": "load"})
    family = serving.fim_family
    # `suffix` is fill-in-the-middle, rendered here, with or without `raw` (Ollama drops the
    # suffix in raw mode; CodeGPT's Ollama provider sends both and means FIM).
    # A prompt the client already rendered with this model's FIM tokens (twinny does) and no
    # system prompt is sent as is, with the family's stop tokens: the chat template would garble it.
    templated = bool(
        family and not req.suffix and not req.system and any(t in req.prompt for t in family.detect_tokens)
    )
    sources_first = _SourcesFirst(request, req.model, piece)
    if req.raw or req.suffix or templated:
        text = req.to_text(options, list(family.stop) if templated else [])
        opened = serving.complete(text, _request_id("gen"))
    else:
        window = options.context_window(serving.engine.tokenizer.context_length)
        opened = serving.chat(req.to_chat(options, window), _request_id("gen"), sources_first if req.streaming else None)
    return await _served(request, opened, req, piece, t_request, sources_first)


@routes.post("/api/chat")
async def chat(request: web.Request) -> web.StreamResponse:
    t_request = time.perf_counter()
    serving: Serving = request.app[SERVING]
    req = await parse_body(request, p.ChatRequestBody)
    options = p.Options(req.options)
    req.refusals()
    _model(serving, req.model, required="model is required")
    show_thinking = req.show_thinking

    def piece(text: str, thinking: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if thinking and show_thinking:
            message["thinking"] = thinking
        if calls:
            message["tool_calls"] = calls
        return {"message": message}

    if not req.messages:
        return json_response({"model": req.model, "created_at": p.now(), "message": {"role": "assistant", "content": ""},
                      "done": True, "done_reason": "load"})
    window = options.context_window(serving.engine.tokenizer.context_length)
    sources_first = _SourcesFirst(request, req.model, piece)
    opened = serving.chat(req.to_chat(options, window), _request_id("chat"), sources_first if req.streaming else None)
    return await _served(request, opened, req, piece, t_request, sources_first)


async def _served(request: web.Request, opened: AsyncContextManager[Run], req: Any, piece: Callable, t_request: float,
                  sources_first: _SourcesFirst) -> web.StreamResponse:
    """The answer of the run `opened` starts; once the sources went out on a stream, a later
    failure is that stream's error line."""
    try:
        async with opened as run:
            return await _answer(request, run, req.model, req.streaming, piece, t_request, req.logprobs_asked(),
                                 sources_first.stream)
    except (ApiError, ConnectionError) as exc:
        if sources_first.stream is None:
            raise
        return await sources_first.failed(exc)


@routes.get("/api/version")
async def version(request: web.Request) -> web.Response:
    return json_response({"version": p.OLLAMA_VERSION})


@routes.get("/api/tags")
async def tags(request: web.Request) -> web.Response:
    serving: Serving = request.app[SERVING]
    if serving.current_status() != "ready":
        return json_response({"models": []})
    name = _display_name(serving)
    meta = await _metadata(serving)
    model = {"name": name, "model": name, "modified_at": STARTED_AT, "size": meta.size_bytes if meta else 0,
             "digest": _digest(serving), "details": _details(serving, meta),
             "capabilities": _capabilities(serving)}
    models = [model]
    embeddings = _ready_embeddings(request)
    if embeddings is not None:
        name = f"{embeddings.served_model_name}:{TAG}"
        meta = await embeddings.model.model_metadata()
        models.append({"name": name, "model": name, "modified_at": STARTED_AT, "size": meta.size_bytes if meta else 0,
                       "digest": hashlib.sha256(f"embeddings:{embeddings.served_model_name}".encode()).hexdigest(),
                       "details": _details_of(meta, embeddings.model.max_input_tokens),
                       "capabilities": ["embedding"]})
    return json_response({"models": models})


def _ready_embeddings(request: web.Request) -> Optional[Embeddings]:
    embeddings = request.app.get(EMBEDDINGS)
    return embeddings if embeddings is not None and embeddings.status == "ready" else None


@routes.post("/api/show")
async def show(request: web.Request) -> web.Response:
    serving: Serving = request.app[SERVING]
    req = await parse_body(request, p.ShowRequest)
    name = req.model or req.name
    embeddings = _ready_embeddings(request)
    if embeddings is not None and name and untagged(name) == embeddings.served_model_name:
        return json_response(await _show_embeddings(embeddings))
    _model(serving, name, required="model is required")
    context = serving.engine.tokenizer.context_length
    meta = await _metadata(serving)
    # The file's own keys as Ollama lists them (`general.architecture`, `llama.context_length`, ...),
    # and general.context_length: the window served, which clients read.
    info = {"general.architecture": "", "general.basename": serving.served_model_name, **_file_info(meta),
            "general.context_length": context}
    return json_response({
        "modelfile": f"# served by oss-sidecar\nFROM {serving.served_model_name}\nPARAMETER num_ctx {context}\n",
        "parameters": f"num_ctx                        {context}",
        "template": _template(serving),
        "details": _details(serving, meta),
        "model_info": info,
        "capabilities": _capabilities(serving),
        "modified_at": STARTED_AT,
    })


async def _show_embeddings(embeddings: Embeddings) -> dict[str, Any]:
    window, model = embeddings.model.max_input_tokens, embeddings.served_model_name
    meta = await embeddings.model.model_metadata()
    return {
        "modelfile": f"# served by oss-sidecar\nFROM {model}\n",
        "parameters": "",
        "template": "",
        "details": _details_of(meta, window),
        "model_info": {"general.architecture": "", "general.basename": model, **_file_info(meta),
                       "general.context_length": window, "general.embedding_length": embeddings.model.dimensions},
        "capabilities": ["embedding"],
        "modified_at": STARTED_AT,
    }


def _file_info(meta: Optional[ModelMetadata]) -> dict[str, Any]:
    """The model file's own keys as Ollama's model_info lists them, with its parameter count."""
    return {**meta.values, "general.parameter_count": meta.parameter_count} if meta else {}


def _template(serving: Serving) -> str:
    """What the prompt becomes, in the syntax of Ollama's templates. Clients look for `.Suffix`
    in it to learn that the server renders fill-in-the-middle itself (Continue does), so it
    appears only when the model has FIM tokens; without suffix the model's chat template applies."""
    family = serving.fim_family
    chat = "{{ if .System }}{{ .System }} {{ end }}{{ .Prompt }}"
    if family is None:
        return chat
    return "{{- if .Suffix }}" + family.render("{{ .Prompt }}", "{{ .Suffix }}") + "{{- else }}" + chat + "{{- end }}"


@routes.post("/api/pull")
async def pull(request: web.Request) -> web.StreamResponse:
    """Ollama's pull of a model this server serves (the chat or the embedding model, with or
    without a tag): the status lines Ollama streams for a model that is up to date, then success
    (`stream: false`: that one object). Clients such as Codex's `--oss` pull before they use a
    model. Any other name: Ollama's error, as a 404 (the model is not here and is never downloaded)."""
    serving: Serving = request.app[SERVING]
    req = await parse_body(request, p.PullRequest)
    name = req.model or req.name
    if not name:
        raise ApiError(400, "model is required", param="model")
    embeddings = request.app.get(EMBEDDINGS)
    base = untagged(name)
    if _served_name(serving, name) is None and (embeddings is None or base != embeddings.served_model_name):
        raise ApiError(404, f"pull model manifest: file does not exist: this server serves "
                            f"'{_display_name(serving)}' and does not download models", param="model")
    if req.stream is False:
        return json_response({"status": "success"})
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    for status in p.PULL_STATUSES:
        await response.write(_dump({"status": status}) + b"\n")
    await response.write_eof()
    return response


@routes.get("/api/ps")
async def ps(request: web.Request) -> web.Response:
    serving: Serving = request.app[SERVING]
    if serving.current_status() != "ready":
        return json_response({"models": []})
    stats = await serving.engine.stats()
    size = sum(int(d.get("used_bytes", 0)) for d in stats.devices)
    name = _display_name(serving)
    return json_response({"models": [{
        "name": name, "model": name, "size": size, "digest": _digest(serving),
        "details": _details(serving, await _metadata(serving)),
        # The model stays loaded for the server's lifetime (keep_alive is not used).
        "expires_at": "9999-12-31T23:59:59Z",
        "size_vram": size if serving.engine.device_kind == "gpu" else 0,
        "context_length": serving.engine.tokenizer.context_length,
    }]})
