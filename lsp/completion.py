"""Completion: the request's path through the server, for ``textDocument/inlineCompletion``
(ghost text) and ``textDocument/completion`` (the fallback for clients without inline completion,
shaped by ``completion_items.py``). Both take the same path:

1. the context (prefix/suffix windows, neighbour snippets) is cut from the document
   (``context.py``); a cached answer for it, or for the user typing along an earlier answer,
   is returned at once (``cache.py``);
2. otherwise the request waits out the debounce delay (``debounce.py``);
3. one request at a time is in flight: a newer completion request, an edit of the document
   (``didChange``) or ``$/cancelRequest`` cancels the older one, and cancelling closes its
   HTTP connection so the gateway aborts it in the engine (``client.py``);
4. the answer streams in; once it runs past the end of the block (what post-processing would
   cut), the stream is closed, so the user does not wait for text that is thrown away;
5. the text is post-processed (``postprocess.py``) and returned as at most one item.

A superseded request is answered with an empty list, not an error: the editor already asked
again. A request the client itself cancelled gets the LSP ``RequestCancelled`` error.
Positions past a line's end are clamped (``positions.py``).

The server's own time per request (``overhead``: arrival → HTTP call, excluding the debounce
sleep, plus gateway answer → reply) is kept in ``CompletionStats`` for the benchmark.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import statistics
import time

from lsprotocol import types
from pygls.workspace import TextDocument

from .cache import CompletionCache
from .client import CompletionResult, GatewayError
from .completion_items import completion_list
from .config import to_plain
from .context import CompletionContext, build_context
from .debounce import Debouncer
from .positions import offset_at
from .postprocess import postprocess, scope_ended
from .protocol import DebugContextResult
from .session import Session

log = logging.getLogger(__name__)


@dataclasses.dataclass
class CompletionStats:
    requests: int = 0
    cache_hits: int = 0
    gateway_calls: int = 0
    superseded: int = 0
    cancelled_by_client: int = 0
    errors: int = 0
    items_returned: int = 0
    # engine tokens of every completion the server started, cancelled ones included
    tokens_generated: int = 0
    # tokens behind each reply, by JSON-RPC request id (last REPLY_TOKENS_KEPT replies)
    reply_tokens: dict = dataclasses.field(default_factory=dict)
    overhead_ms: list[float] = dataclasses.field(default_factory=list)
    # arrival → HTTP request issued (debounce sleep excluded), for every gateway call, cancelled
    # ones included; arrival → reply for cache hits
    prepare_ms: list[float] = dataclasses.field(default_factory=list)
    gateway_ms: list[float] = dataclasses.field(default_factory=list)

    def as_dict(self, with_replies: bool = False) -> dict:
        d = dataclasses.asdict(self)
        if not with_replies:
            d.pop("reply_tokens")
        for name in ("overhead_ms", "prepare_ms", "gateway_ms"):
            samples = d.pop(name)
            d[name] = {
                "count": len(samples),
                "p50": statistics.median(samples) if samples else None,
                "p90": _quantile(samples, 0.9),
                "max": max(samples) if samples else None,
            }
        return d


def _quantile(samples: list[float], q: float) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


EMPTY = types.InlineCompletionList(items=[])


@dataclasses.dataclass
class Suggestion:
    """What the pipeline produced for a position: the text to offer ("" for nothing)."""

    text: str
    ctx: CompletionContext | None = None
    doc: TextDocument | None = None
    offset: int = 0  # of the cursor in doc.source


NOTHING = Suggestion(text="")
REPLY_TOKENS_KEPT = 5000


class CompletionService:
    def __init__(self, session: Session, workspace_getter):
        self.session = session
        self._workspace = workspace_getter
        self.debouncer = Debouncer()
        self.cache = CompletionCache()
        self.stats = CompletionStats()
        self._inflight: asyncio.Task | None = None
        self._inflight_uri: str | None = None
        self._superseded: set[int] = set()

    # -- events -----------------------------------------------------------------------------

    def document_changed(self, uri: str) -> None:
        """An edit makes any pending completion for that document stale: cancel it."""
        self.debouncer.record_keystroke()
        if self._inflight_uri == uri:
            self._supersede()

    def reset(self) -> None:
        """Settings changed (model, URL, budget...): forget cached answers."""
        self.cache.clear()

    def _supersede(self) -> None:
        task = self._inflight
        if task is not None and not task.done():
            self._superseded.add(id(task))
            task.cancel()
            self.stats.superseded += 1
        self._inflight = None
        self._inflight_uri = None

    # -- the request ------------------------------------------------------------------------

    async def inline_completion(
        self, params: types.InlineCompletionParams, msg_id=None
    ) -> types.InlineCompletionList:
        manual = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        found = await self._suggest(params.text_document.uri, params.position, manual, msg_id)
        if not found.text:
            return EMPTY
        self.stats.items_returned += 1
        return types.InlineCompletionList(items=[types.InlineCompletionItem(insert_text=found.text)])

    async def completion(self, params: types.CompletionParams, msg_id=None) -> types.CompletionList:
        """The same suggestion as a completion item; ``isIncomplete`` so the editor asks again
        as the user types. Any trigger counts as automatic (debounced): editors send
        ``Invoked`` for typing and for an explicit request alike."""
        found = await self._suggest(params.text_document.uri, params.position, False, msg_id)
        if not found.text:
            return completion_list(None)
        self.stats.items_returned += 1
        return completion_list(found)

    async def _suggest(self, uri: str, position: types.Position, manual: bool, msg_id) -> Suggestion:
        arrived = time.monotonic()
        self.stats.requests += 1
        if not self.session.settings.features.inline_completion:
            return NOTHING
        self._supersede()
        task = asyncio.ensure_future(self._complete(uri, position, manual, arrived, msg_id))
        self._inflight, self._inflight_uri = task, uri
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if id(task) in self._superseded and not (
                current is not None and getattr(current, "cancelling", lambda: 0)()
            ):
                return NOTHING
            self.stats.cancelled_by_client += 1
            raise
        finally:
            self._superseded.discard(id(task))
            if self._inflight is task:
                self._inflight, self._inflight_uri = None, None

    async def _complete(
        self, uri: str, position: types.Position, manual: bool, arrived: float, msg_id=None
    ) -> Suggestion:
        settings = self.session.settings
        workspace = self._workspace()
        try:
            doc = workspace.get_text_document(uri)
            text = doc.source
            offset = offset_at(doc, position)
        except Exception:
            log.warning("completion for an unknown document %s", uri, exc_info=True)
            return NOTHING
        client = self.session.client
        try:
            info = await client.model_info()
        except GatewayError as exc:
            self.stats.errors += 1
            self.session.gateway_failed(exc)
            return NOTHING
        neighbours = ()
        if info.fim_supports_files:
            neighbours = [
                (_path_of(other.uri), other.source)
                for other in list(workspace.text_documents.values())
                if other.uri != uri and other.language_id == doc.language_id
            ]
        ctx = build_context(
            text, offset, settings.context_budget_tokens, neighbours, language=doc.language_id
        )
        model = settings.model or info.id
        key = (
            ctx.prefix,
            ctx.suffix,
            tuple((f.path, f.content) for f in ctx.files),
            model,
            settings.max_tokens,
            settings.temperature,
        )
        cached = self.cache.get(key)
        if cached is None:
            cached = self.cache.typed_along(ctx.prefix, ctx.suffix)
        if cached is not None:
            self.stats.cache_hits += 1
            self._note_reply(msg_id, 0)
            reply = Suggestion(cached, ctx, doc, offset)
            self._keep(self.stats.prepare_ms, (time.monotonic() - arrived) * 1000.0)
            return reply

        delay = self.debouncer.delay_ms(
            settings.debounce_ms,
            adaptive=settings.adaptive_debounce,
            manual=manual,
            trigger_char=ctx.line_prefix[-1:] if ctx.line_prefix else "\n",
            line_end=not ctx.mid_line,
            document_end=text[offset:].strip() == "",
        )
        prepared = time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)
        slept_until = time.monotonic()

        self.stats.gateway_calls += 1
        self.session.begin()
        result = CompletionResult(text="")
        try:
            await client.complete(
                prompt=ctx.prefix,
                suffix=ctx.suffix,
                model=model,
                max_tokens=settings.max_tokens,
                temperature=settings.temperature,
                stop=["\n"] if ctx.mid_line else None,
                fim_files=[{"path": f.path, "content": f.content} for f in ctx.files] or None,
                timeout_s=settings.completion_timeout_ms / 1000.0,
                result=result,
                # past the end of the block the rest is cut anyway: not waited for
                enough=lambda text: scope_ended(text, ctx),
            )
        except GatewayError as exc:
            self.stats.errors += 1
            self.session.gateway_failed(exc)
            return NOTHING
        finally:
            self.stats.tokens_generated += result.tokens
            if result.sent_at:
                self._keep(
                    self.stats.prepare_ms,
                    ((prepared - arrived) + (result.sent_at - slept_until)) * 1000.0,
                )
            self.session.end()
        self.session.gateway_ok()
        self.debouncer.latency.add((result.answered_at - result.sent_at) * 1000.0)

        shown = postprocess(result.text, ctx)
        self.cache.put(key, ctx.prefix, ctx.suffix, shown)
        reply = Suggestion(shown, ctx, doc, offset)
        self._note_reply(msg_id, result.tokens)
        done = time.monotonic()
        self._keep(self.stats.gateway_ms, (result.answered_at - result.sent_at) * 1000.0)
        self._keep(
            self.stats.overhead_ms,
            ((prepared - arrived) + (result.sent_at - slept_until) + (done - result.answered_at))
            * 1000.0
        )
        return reply

    @staticmethod
    def _keep(samples: list[float], value: float, limit: int = 10_000) -> None:
        samples.append(value)
        if len(samples) > limit:
            del samples[: len(samples) - limit]

    def _note_reply(self, msg_id, tokens: int) -> None:
        if msg_id is None:
            return
        replies = self.stats.reply_tokens
        replies[str(msg_id)] = tokens
        while len(replies) > REPLY_TOKENS_KEPT:
            replies.pop(next(iter(replies)))

    def debug_context(self, params) -> DebugContextResult:
        """The prompt pieces for a position (``ossSidecar/debugContext``), without a request."""
        params = to_plain(params)
        get = lambda o, k: o.get(k)
        uri = get(get(params, "textDocument"), "uri")
        pos = get(params, "position")
        doc = self._workspace().get_text_document(uri)
        offset = offset_at(
            doc, types.Position(line=int(get(pos, "line")), character=int(get(pos, "character")))
        )
        model = self.session.client.model
        neighbours = ()
        if model is not None and model.fim_supports_files:
            neighbours = [
                (_path_of(o.uri), o.source)
                for o in list(self._workspace().text_documents.values())
                if o.uri != uri and o.language_id == doc.language_id
            ]
        ctx = build_context(
            doc.source, offset, self.session.settings.context_budget_tokens, neighbours
        )
        return {
            "prefix": ctx.prefix,
            "suffix": ctx.suffix,
            "files": [{"path": f.path, "content": f.content} for f in ctx.files],
            "midLine": ctx.mid_line,
            "estimatedTokens": ctx.estimated_tokens,
        }

def _path_of(uri: str) -> str:
    from pygls.uris import to_fs_path

    return to_fs_path(uri) or uri
