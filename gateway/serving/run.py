"""One request's engine streams, merged into wire-neutral events, with their accounting.

Closing a Run — normally, on error, or because the client went away and aiohttp cancelled
the handler — closes every engine stream, which aborts the request in the engine.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, AsyncIterator, Optional

from gateway.engines.base import (
    Delta, Engine, EngineDeadError, EngineError, GenerationRequest, PromptTooLongError, TokenLogprob, UpstreamError,
)
from gateway.errors import ApiError, ContextLengthExceeded, bad_request
from gateway.serving.events import ChoiceEvent, ChoiceResult, ToolCall, Usage
from gateway.telemetry import TurnNumbers

if TYPE_CHECKING:
    from gateway.serving.core import Serving

log = logging.getLogger(__name__)


@dataclass
class Choice:
    index: int
    request: GenerationRequest
    # For completions with echo: text to put before the generated text.
    echo_prefix: str = ""
    # With echo and logprobs: the prompt's tokens' log probabilities, before the generated ones.
    echo_logprobs: list[TokenLogprob] = field(default_factory=list)
    # max_tokens 0 (with echo): no generation; the prompt's token count for the usage.
    prompt_only_tokens: int = 0
    counts_prompt: bool = True  # False for the 2nd..nth copy of the same prompt


@dataclass
class _Tally:
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    # Tool calls by their index: [id, name, argument pieces].
    tool_calls: dict[int, list] = field(default_factory=dict)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: Optional[str] = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    # Output pieces streamed so far: the token count of a stream cut short, which never gets
    # the engine's final count (engines stream about one token per piece).
    pieces: int = 0


@dataclass
class Timing:
    """When a run handed its prompt to the engine, got its first output, and finished
    (time.perf_counter() seconds; None until it happens)."""

    started: float
    first_output: Optional[float] = None
    finished: Optional[float] = None


def too_long(exc: PromptTooLongError) -> ContextLengthExceeded:
    """An engine's or the history window's refusal as the one error every wire renders."""
    return ContextLengthExceeded(exc.prompt_tokens, exc.limit, exc.param)


class Run:
    """Iterate it for ChoiceEvents, or `await run.results()` for the finished choices."""

    def __init__(self, serving: "Serving", choices: list[Choice]):
        self._serving = serving
        self.choices = choices
        self.dropped_messages = 0  # history turns left out to fit the window
        self.sources: list = []  # knowledge-base chunks the prompt cites (retrieval)
        self.history_window: Optional[int] = None  # the window a trimmed history was fitted to
        self.counted_prompt_tokens: Optional[int] = None  # the prompt's tokens, where fitting counted them
        self._tallies = {c.index: _Tally() for c in choices}
        self._echo = {c.index: c.echo_prefix for c in choices if c.echo_prefix}
        self._echo_logprobs = {c.index: c.echo_logprobs for c in choices if c.echo_logprobs}
        self.timing = Timing(started=time.perf_counter())
        self._stream: Optional[AsyncIterator[tuple[int, Delta]]] = None
        self._first: Optional[tuple[int, Delta]] = None
        self._finals = 0
        self._failed = False  # the engine refused or failed: an error, not an abort
        self._closed = False

    async def start(self) -> None:
        """Wait for the first delta, so errors before any output become a proper status."""
        self._stream = self._merged()
        try:
            self._first = await self._stream.__anext__()
        except StopAsyncIteration:
            self._first = None
        except BaseException:
            await self.aclose()
            raise

    async def __aiter__(self) -> AsyncIterator[ChoiceEvent]:
        assert self._stream is not None, "call start() first"
        try:
            if self._first is not None:
                yield self._account(*self._first)
            async for index, delta in self._stream:
                yield self._account(index, delta)
        finally:
            await self.aclose()

    async def results(self) -> list[ChoiceResult]:
        async for _ in self:
            pass
        choices = {c.index: c for c in self.choices}
        return [
            ChoiceResult(
                index,
                choices[index].echo_prefix + "".join(t.text),
                "".join(t.reasoning),
                t.finish_reason,
                tool_calls=[
                    ToolCall(id_, name, "".join(pieces)) for _, (id_, name, pieces) in sorted(t.tool_calls.items())
                ],
                logprobs=choices[index].echo_logprobs + t.logprobs if choices[index].request.logprobs is not None else None,
            )
            for index, t in sorted(self._tallies.items())
        ]

    def _account(self, index: int, delta: Delta) -> ChoiceEvent:
        tally = self._tallies[index]
        if delta.text or delta.reasoning or delta.tool_calls:
            if self.timing.first_output is None:
                self.timing.first_output = time.perf_counter()
            tally.pieces += 1
            if delta.text:
                tally.text.append(delta.text)
            if delta.reasoning:
                tally.reasoning.append(delta.reasoning)
            for piece in delta.tool_calls:
                call = tally.tool_calls.setdefault(piece.index, [piece.id or "", piece.name or "", []])
                call[0] = call[0] or piece.id or ""
                call[1] = call[1] or piece.name or ""
                call[2].append(piece.arguments)
        tally.logprobs.extend(delta.logprobs)
        if delta.finish_reason is not None:
            self._finals += 1
            tally.finish_reason = delta.finish_reason
            tally.prompt_tokens = delta.prompt_tokens or 0
            tally.completion_tokens = delta.completion_tokens or 0
            tally.cached_tokens = delta.cached_tokens or 0
            if self._finals == len(self.choices):
                self.timing.finished = time.perf_counter()
        text = self._echo.pop(index, "") + delta.text if self._echo else delta.text
        logprobs = self._echo_logprobs.pop(index, []) + delta.logprobs if self._echo_logprobs else delta.logprobs
        return ChoiceEvent(index, text, delta.reasoning, delta.finish_reason, delta.tool_calls, logprobs)

    def usage(self) -> Usage:
        counted = [self._tallies[c.index] for c in self.choices if c.counts_prompt]
        return Usage(
            prompt_tokens=sum(t.prompt_tokens for t in counted),
            completion_tokens=sum(t.completion_tokens for t in self._tallies.values()),
            cached_tokens=sum(t.cached_tokens for t in counted),
        )

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.timing.finished is None:
            self.timing.finished = time.perf_counter()
        if self._stream is not None:
            await self._stream.aclose()
        self._record()

    def _record(self) -> None:
        serving = self._serving
        finished = self._finals == len(self.choices)
        usage = self.usage()
        counters = serving.stats.counters
        counters["requests_total"] += 1
        counters["completion_tokens_total"] += usage.completion_tokens
        serving.metrics.prompt_tokens.inc(usage.prompt_tokens)
        serving.metrics.completion_tokens.inc(usage.completion_tokens)
        if self._failed:
            return
        if not finished:
            streamed = sum(t.pieces for t in self._tallies.values() if t.finish_reason is None)
            counters["completion_tokens_total"] += streamed
            serving.metrics.completion_tokens.inc(streamed)
            counters["requests_aborted_total"] += 1
            serving.metrics.aborted.inc()
            return
        now = time.perf_counter()
        t0, t_first = self.timing.started, self.timing.first_output
        serving.metrics.e2e.observe(now - t0)
        ttft = None
        tps = None
        if t_first is not None:
            ttft = (t_first - t0) * 1000
            serving.metrics.ttft.observe(ttft / 1000)
            decode_s = now - t_first
            if usage.completion_tokens > 1 and decode_s > 0:
                tps = (usage.completion_tokens - len(self.choices)) / decode_s
        serving.stats.record(TurnNumbers(usage.prompt_tokens, usage.completion_tokens, ttft, tps))

    async def _merged(self) -> AsyncIterator[tuple[int, Delta]]:
        engine = self._serving.engine
        try:
            if len(self.choices) == 1:
                choice = self.choices[0]
                gen = _generate(engine, choice)
                try:
                    async for delta in gen:
                        yield choice.index, delta
                finally:
                    await gen.aclose()
                return
            async for pair in _merge(engine, self.choices):
                yield pair
        except (PromptTooLongError, EngineError, ValueError) as exc:
            self._failed = True  # an error answer, not a client that went away
            raise self._api_error(exc) from None
        except ApiError:
            raise
        except Exception:  # a bug: still an error answer (an error event once streaming), never a broken stream
            self._failed = True
            log.exception("request %s: the engine raised", self.choices[0].request.request_id)
            raise ApiError(500, "internal server error; see the server log", type="server_error") from None

    def _api_error(self, exc: Exception) -> ApiError:
        return engine_api_error(exc, self._serving, self.choices[0].request.request_id)


def _generate(engine: Engine, choice: Choice) -> AsyncIterator[Delta]:
    """The choice's engine stream; for max_tokens 0 (echo: the prompt alone) none at all."""
    if choice.request.sampling.max_tokens == 0:
        return _prompt_only(choice)
    return engine.generate(choice.request)


async def _prompt_only(choice: Choice) -> AsyncIterator[Delta]:
    yield Delta(finish_reason="length", prompt_tokens=choice.prompt_only_tokens, completion_tokens=0)


async def _merge(engine: Engine, choices: list[Choice]) -> AsyncIterator[tuple[int, Delta]]:
    queue: asyncio.Queue = asyncio.Queue()
    end = object()

    async def pump(choice: Choice) -> None:
        gen = _generate(engine, choice)
        try:
            async for delta in gen:
                queue.put_nowait((choice.index, delta))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            queue.put_nowait((choice.index, exc))
        finally:
            await gen.aclose()
            queue.put_nowait((choice.index, end))

    tasks = [asyncio.create_task(pump(c)) for c in choices]
    try:
        remaining = len(tasks)
        while remaining:
            index, item = await queue.get()
            if item is end:
                remaining -= 1
            elif isinstance(item, BaseException):
                if not isinstance(item, asyncio.CancelledError):
                    raise item
            else:
                yield index, item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def engine_api_error(exc: Exception, serving: "Serving", request_id: str) -> ApiError:
    """What the client gets for an engine's exception about its request (a ValueError: a 400)."""
    if isinstance(exc, PromptTooLongError):
        return too_long(exc)
    if isinstance(exc, EngineError):  # the client gets a 500 or 503; the operator needs the cause
        log.error("request %s: the engine failed: %s", request_id, exc)
    if isinstance(exc, UpstreamError):
        busy = exc.status in (429, 503)
        return ApiError(
            exc.status, f"the upstream server failed: {exc}" if not busy else str(exc),
            type="rate_limit_error" if exc.status == 429 else "service_unavailable" if busy else "server_error",
            code="upstream_busy" if exc.status == 429 else "upstream_unavailable" if busy else "upstream_error",
            headers={"Retry-After": exc.retry_after} if exc.retry_after else None,
        )
    if isinstance(exc, EngineDeadError):
        serving.status = "dead"
        return ApiError(503, f"the engine has stopped: {exc}", type="service_unavailable", code="engine_dead")
    if isinstance(exc, EngineError):
        return ApiError(500, f"the engine failed: {exc}", type="server_error", code="engine_error")
    return bad_request(str(exc), param=getattr(exc, "param", None))
