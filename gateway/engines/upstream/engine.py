"""The `upstream` engine: generation on one or more OpenAI-compatible servers.

Serving does here what it does for a local engine — admission, history windows, FIM rendering
(the upstream gets a raw prompt: vLLM's server rejects `suffix`) — and this engine forwards
each generation: chat as `messages` to /v1/chat/completions (the upstream applies its own chat
template and reports the prompt tokens it saw), raw prompts to /v1/completions. Streams pass
through chunk by chunk; closing the stream closes the upstream connection, which aborts the
request there. A server that fails before the first piece of output is retried on another;
one that fails after ends that stream with an error, and only that stream.

Whatever a server sends, the fault stays its own: a malformed chunk, an error event or a broken
connection is a 502 (an error event once streaming), none up a 503, all busy a 429 with the
server's Retry-After; only its 400/413/422 (the request itself) reach the client as a 400. Its
output is bounded by the request's own max_tokens (stream.OutputBudget), and each event by
aiohttp's line limit (512 KiB), whatever it sends.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Optional

import aiohttp
import psutil

from gateway.engines.base import (
    Delta,
    Engine,
    EngineError,
    EngineStats,
    GenerationRequest,
    ProgressCallback,
    Tokenizer,
    UpstreamError,
)
from gateway.engines.upstream.health import HealthChecker, Replica
from gateway.engines.upstream.routing import Router
from gateway.engines.upstream.stream import DONE, Chunks, MalformedStream, OutputBudget, error_message, events
from gateway.engines.upstream.tokenizers import UpstreamStatusError, discover, tokenizer_file
from gateway.redaction import redact

if TYPE_CHECKING:
    from gateway.settings import Settings

log = logging.getLogger(__name__)

# Connection failures: the server is gone (or going); take it out until a health check says otherwise.
_GONE = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError, OSError)


class _StreamError(Exception):
    """The upstream sent an error event in the stream."""


# The upstream's statuses that are about the request itself (the client's to fix); any other
# 4xx is about this gateway's setup (its key, the model name) and is the upstream's fault.
_CLIENT_STATUSES = (400, 413, 422)


def _config_error(message: str) -> Exception:
    from gateway.settings import ConfigError  # the settings import the engine registry

    return ConfigError(message)


class UpstreamEngine(Engine):
    name = "upstream"

    def __init__(self, settings: "Settings"):
        self._settings = settings
        self._cfg = settings.upstream
        self.replicas = [Replica(s.url, s.api_key, s.max_concurrency) for s in self._cfg.servers]
        self.router = Router(self.replicas, self._cfg.routing, self._cfg.load_factor, self._cfg.affinity_prefix_chars)
        self.model_name = "unloaded"
        self._tokenizer: Optional[Tokenizer] = None
        self._session: Optional[aiohttp.ClientSession] = None
        self._health: Optional[HealthChecker] = None
        self._open: dict[str, aiohttp.ClientResponse] = {}  # request id -> its upstream response
        self._aborted: set[str] = set()
        self.retries_total = 0  # requests moved to another server before their first byte

    # ---- lifetime -----------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        return max(1, sum(r.max_concurrency for r in self.replicas))

    @property
    def tokenizer(self) -> Tokenizer:
        assert self._tokenizer is not None, "engine not started"
        return self._tokenizer

    def check_model(self) -> None:
        if not self.replicas:
            raise _config_error("upstream.servers: engine upstream needs at least one server, e.g. [{url: http://gpu-box:8000}]")
        if self._cfg.tokenizer and not tokenizer_file(self._cfg.tokenizer).is_file():
            raise _config_error(f"upstream.tokenizer: no tokenizer.json at {self._cfg.tokenizer}")

    async def start(self, progress: Optional[ProgressCallback] = None) -> None:
        report = progress or (lambda msg, frac: None)
        self.check_model()
        cfg = self._cfg
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=cfg.connect_timeout_s, sock_read=cfg.read_timeout_s),
            connector=aiohttp.TCPConnector(limit=0),
        )
        self._health = HealthChecker(self._session, self.replicas, cfg.health_interval_s, cfg.connect_timeout_s)
        report(f"waiting for {len(self.replicas)} upstream server(s)", 0.1)
        deadline = time.monotonic() + cfg.start_timeout_s
        while True:
            await self._health.check_all()
            if any(r.up for r in self.replicas):
                break
            if time.monotonic() > deadline:
                states = "; ".join(f"{r.label}: {r.last_error}" for r in self.replicas)
                raise EngineError(f"no upstream server answered within {cfg.start_timeout_s:g} s ({states})")
            await asyncio.sleep(0.5)
        first = next(r for r in self.replicas if r.up)
        self.model_name, context_length, vocab_size = await self._model_card(first)
        report(f"upstream {first.label} serves {self.model_name} ({context_length} tokens of context)", 0.6)
        self._tokenizer = await discover(
            self._post_json, self.model_name, context_length, cfg.tokenizer, first.label, vocab_size
        )
        self._health.start()
        up = sum(r.up for r in self.replicas)
        report(f"{up} of {len(self.replicas)} upstream server(s) up; routing: {cfg.routing}", 1.0)

    async def _model_card(self, replica: Replica) -> tuple[str, int, Optional[int]]:
        assert self._session is not None
        async with self._session.get(replica.url + "/v1/models", headers=replica.headers) as resp:
            if resp.status != 200:
                raise EngineError(f"{replica.label}/v1/models answered {resp.status}: {(await resp.text())[:200]}")
            cards = (await resp.json(content_type=None)).get("data") or []
        if not cards:
            raise EngineError(f"{replica.label}/v1/models lists no model")
        card = cards[0]
        # vLLM and oss-sidecar say max_model_len; llama.cpp's server says meta.n_ctx (per slot).
        context = self._cfg.context_length or card.get("max_model_len") or (card.get("meta") or {}).get("n_ctx")
        if not context:
            raise _config_error(
                f"upstream.context_length: {replica.label}/v1/models does not give the model's context length; set it"
            )
        n_vocab = (card.get("meta") or {}).get("n_vocab")  # llama.cpp's server
        return str(card["id"]), int(context), n_vocab if isinstance(n_vocab, int) else None

    async def stop(self) -> None:
        if self._health is not None:
            await self._health.stop()
        for resp in list(self._open.values()):
            resp.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- requests -----------------------------------------------------------------------
    async def _post_json(self, path: str, body: dict) -> Any:
        """A small JSON call (tokenization) to the first server that is up."""
        assert self._session is not None
        failures = []
        for replica in sorted(self.replicas, key=lambda r: not r.up):
            if not replica.up and failures:
                break
            try:
                async with self._session.post(replica.url + path, json=body, headers=replica.headers) as resp:
                    if resp.status >= 300:
                        raise UpstreamStatusError(replica.label + path, resp.status, await resp.text())
                    return await resp.json(content_type=None)
            except _GONE as exc:
                replica.mark_down(f"POST {path} failed: {exc.__class__.__name__} {exc}".strip())
                failures.append(f"{replica.label}: {exc.__class__.__name__}")
        raise EngineError(f"no upstream server answered POST {path} ({'; '.join(failures) or 'none is up'})")

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model_name, "stream": True, "stream_options": {"include_usage": True}}
        if request.messages is not None:
            body["messages"] = request.messages
        else:
            body["prompt"] = request.prompt
        for name, value in vars(request.sampling).items():
            if value is not None and not (name == "stop" and not value):
                body[name] = value
        if request.extra.get("ignore_eos"):
            body["ignore_eos"] = True
        if request.extra.get("reasoning_effort"):
            body["reasoning_effort"] = request.extra["reasoning_effort"]
        if request.extra.get("chat_template_kwargs") and request.messages is not None:
            body["chat_template_kwargs"] = request.extra["chat_template_kwargs"]
        # Tools, structured output and logprobs go on as OpenAI's fields: the upstream does them.
        if request.tools:
            body["tools"] = [{"type": "function", "function": t} for t in request.tools]
            choice = request.tool_choice
            body["tool_choice"] = (
                {"type": "function", "function": {"name": choice.name}} if choice.mode == "function" else choice.mode
            )
            body["parallel_tool_calls"] = request.parallel_tool_calls
        fmt = request.response_format
        if fmt is not None:
            body["response_format"] = (
                {"type": "json_object"} if fmt.schema is None else
                {"type": "json_schema", "json_schema": {"name": fmt.name or "output", "schema": fmt.schema, "strict": True}}
            )
        if request.logprobs is not None:
            if request.messages is not None:
                body["logprobs"] = True
                body["top_logprobs"] = request.logprobs
            else:
                body["logprobs"] = request.logprobs
        return body

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        if self._session is None:
            raise EngineError("engine not started")
        chat = request.messages is not None
        path = "/v1/chat/completions" if chat else "/v1/completions"
        body = self._body(request)
        tried: set[str] = set()
        failures: list[str] = []
        busy: list[str] = []  # Retry-After of each server that answered 429 ("" if it gave none)
        while True:
            replica = self.router.choose(request, exclude=tried)
            if replica is None:
                raise self._no_server(failures, busy)
            if tried:
                self.retries_total += 1
            tried.add(replica.url)
            replica.in_flight += 1
            replica.requests_total += 1
            resp: Optional[aiohttp.ClientResponse] = None
            streamed = finished = False
            t0 = time.perf_counter()
            try:
                resp = await self._session.post(replica.url + path, json=body, headers=replica.headers)
                self._open[request.request_id] = resp
                if resp.status != 200:
                    text = (await resp.content.read(64 * 1024)).decode(errors="replace")
                    if resp.status in _CLIENT_STATUSES:
                        raise ValueError(_upstream_message(text, resp.status))  # the client's request: a 400
                    replica.failures_total += 1
                    failures.append(f"{replica.label} answered {resp.status}")
                    if resp.status == 429:
                        busy.append(resp.headers.get("Retry-After", ""))
                    if resp.status == 503:
                        self._health.poke()
                    continue  # busy, draining, broken or misconfigured: another one
                chunks = Chunks(chat)
                budget = OutputBudget(request.sampling.max_tokens or self.tokenizer.context_length)
                async for payload in events(resp.content):
                    if payload is DONE:
                        break
                    if not isinstance(payload, dict):
                        raise MalformedStream(f"a chunk that is no JSON object ({type(payload).__name__})")
                    if "error" in payload:
                        raise _StreamError(error_message(payload))
                    delta = chunks.delta(payload)
                    if delta is not None:
                        if not streamed:
                            replica.observe_first_token(time.perf_counter() - t0)
                        streamed = True
                        if budget.over(delta):
                            log.warning(
                                "upstream %s sent more than max_tokens (%d) allows; the answer is cut there",
                                replica.label, budget.limit,
                            )
                            if delta.text or delta.reasoning or delta.tool_calls:
                                yield delta
                            yield budget.final(chunks)  # the connection is closed below: that aborts it there
                            return
                        yield delta
                if chunks.finish_reason is None:
                    raise aiohttp.ClientPayloadError("the stream ended before the answer did")
                finished = True
                yield chunks.final()
                return
            except (*_GONE, _StreamError, MalformedStream) as exc:
                if request.request_id in self._aborted:
                    return  # abort() closed it
                replica.failures_total += 1
                if isinstance(exc, _StreamError):
                    reason = f"error event: {exc}"
                elif isinstance(exc, MalformedStream):
                    reason = f"malformed stream: {exc}"
                else:
                    reason = f"{exc.__class__.__name__} {exc}".strip()
                    if not isinstance(exc, asyncio.TimeoutError):
                        replica.mark_down(reason)
                    self._health.poke()
                reason = redact(reason)
                if not streamed:  # nothing reached the client yet: another server may answer
                    failures.append(f"{replica.label}: {reason}")
                    continue
                raise UpstreamError(f"upstream {replica.label} failed mid-stream ({reason})") from None
            finally:
                replica.in_flight -= 1
                self._open.pop(request.request_id, None)
                self._aborted.discard(request.request_id)
                if resp is not None:
                    if finished:
                        resp.release()  # the connection goes back to the pool
                    else:
                        resp.close()  # client gone or failed: closing the connection aborts it upstream

    def _no_server(self, failures: list[str], busy: list[str]) -> UpstreamError:
        """Every server was tried (or none is up): whose fault, and what the client may do."""
        if failures and len(busy) == len(failures):  # all busy: their 429, with the longest wait asked
            waits = [int(b) for b in busy if b.strip().isdigit()]
            retry_after = str(max(waits)) if waits else "1"
            return UpstreamError(
                f"every upstream server is busy ({'; '.join(failures)}); retry after {retry_after} s",
                status=429, retry_after=retry_after,
            )
        if not failures:
            states = "; ".join(f"{r.label}: {r.last_error or r.state}" for r in self.replicas)
            return UpstreamError(f"no upstream server is up ({states})", status=503, retry_after="1")
        return UpstreamError(f"no upstream server could take the request ({'; '.join(failures)})")

    async def abort(self, request_id: str) -> None:
        resp = self._open.get(request_id)
        if resp is not None:
            self._aborted.add(request_id)
            resp.close()

    async def stats(self) -> EngineStats:
        counters: dict[str, float] = {"upstream_servers_up": float(sum(r.up for r in self.replicas))}
        counters["upstream_retries_total"] = float(self.retries_total)
        for replica in self.replicas:
            counters.update(replica.counters())
        process = psutil.Process(os.getpid())
        return EngineStats(
            engine=self.name,
            model=self.model_name,
            running=sum(r.in_flight for r in self.replicas),
            devices=[{"name": "cpu", "used_bytes": process.memory_info().rss, "total_bytes": psutil.virtual_memory().total}],
            counters=counters,
        )


def _upstream_message(text: str, status: int) -> str:
    import json

    try:
        payload = json.loads(text)
    except ValueError:
        return f"the upstream server refused the request ({status}): {text[:300]}"
    if isinstance(payload, dict) and "error" in payload:
        return error_message(payload)
    return f"the upstream server refused the request ({status}): {text[:300]}"
