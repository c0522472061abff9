"""``ossSidecar/ask``: a question about a selection, answered in streamed Markdown.

Params ``{"textDocument": {"uri"}, "range", "question", "partialResultToken"?}``; result
``{"markdown": str}``. With a ``partialResultToken`` every piece of the answer is sent first
as ``$/progress {"token", "value": {"markdown": piece}}``. ``$/cancelRequest`` cancels the
handler task, which closes the HTTP stream, which aborts the request in the engine.
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types

from .config import to_plain
from .positions import offset_at
from .prompts import SYSTEM, code_context, describe
from .protocol import AskPartialResult, AskResult
from .session import Session

log = logging.getLogger(__name__)


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _position(obj: Any) -> types.Position:
    return types.Position(line=int(_get(obj, "line", 0)), character=int(_get(obj, "character", 0)))


async def ask(session: Session, workspace, send_progress, params: Any) -> AskResult:
    params = to_plain(params) or {}
    if not session.settings.features.ask:
        return {"markdown": ""}
    settings = session.settings
    question = str(_get(params, "question", "") or "").strip()
    token = _get(params, "partialResultToken")
    uri = _get(_get(params, "textDocument", {}), "uri")
    rng = _get(params, "range")
    path, language, before, selection, after = None, None, "", "", ""
    if uri:
        try:
            doc = workspace.get_text_document(uri)
            start = end = 0
            if rng is not None:
                start = offset_at(doc, _position(_get(rng, "start")))
                end = offset_at(doc, _position(_get(rng, "end")))
                start, end = min(start, end), max(start, end)
            before, selection, after = code_context(
                doc.source, start, end, settings.context_budget_tokens
            )
            from pygls.uris import to_fs_path

            path, language = to_fs_path(doc.uri) or doc.uri, doc.language_id
        except Exception:
            log.warning("ask: cannot read %s", uri, exc_info=True)
    content = question or "Explain the selected code."
    if path is not None:
        content = describe(path, language, before, selection, after) + "\n\nQuestion: " + content
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]

    pieces: list[str] = []

    def on_piece(piece: str) -> None:
        pieces.append(piece)
        if token is not None:
            value: AskPartialResult = {"markdown": piece}
            send_progress(types.ProgressParams(token=token, value=value))

    answer = await session.chat(messages, on_piece)
    # On a gateway failure the result is what arrived before it.
    if answer is None:
        return {"markdown": "".join(pieces)}
    return {"markdown": answer.text + (f"\n\n*({answer.cut_note()})*" if answer.cut else "")}
