"""A suggestion as ``textDocument/completion`` shows it, for editors without inline completion.

One item, marked as AI (``detail`` and ``labelDetails``), whose ``textEdit`` replaces the word
being typed (the identifier characters before the cursor) with that word plus the suggestion:
editors filter items by that word, so the label and ``filterText`` start with it. The label is
the first line; a multi-line suggestion is inserted whole and shown whole in ``documentation``.
The list is always ``isIncomplete``: the editor asks again as the user types, and each answer
comes from the same pipeline (debounce, cache, cancellation) as ghost text.
"""

from __future__ import annotations

import re

from lsprotocol import types

from .positions import position_at

DETAIL = "oss-sidecar (AI)"
_WORD = re.compile(r"\w*\Z")


def completion_list(found) -> types.CompletionList:
    """``found`` is a ``completion.Suggestion`` with text, or None for no item."""
    if found is None or not found.text:
        return types.CompletionList(is_incomplete=True, items=[])
    word = _WORD.search(found.ctx.line_prefix).group(0)
    new_text = word + found.text
    first_line = new_text.split("\n", 1)[0].rstrip()
    label = first_line.strip() or new_text.strip().split("\n", 1)[0]
    edit_range = types.Range(
        start=position_at(found.doc, found.offset - len(word)),
        end=position_at(found.doc, found.offset),
    )
    language = found.ctx.language or ""
    item = types.CompletionItem(
        label=label,
        label_details=types.CompletionItemLabelDetails(description="AI"),
        kind=types.CompletionItemKind.Text,
        detail=DETAIL,
        documentation=types.MarkupContent(
            kind=types.MarkupKind.Markdown, value=f"```{language}\n{new_text}\n```"
        ),
        filter_text=first_line if word else label,
        insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(range=edit_range, new_text=new_text),
    )
    return types.CompletionList(is_incomplete=True, items=[item])
