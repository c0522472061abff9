"""LSP positions ↔ offsets in a document, clamped to the text that is there.

Clients send positions past a line's end: Neovim's linewise ``V`` selection ends one character
past the line, others send a line past the last one. LSP says such a character "defaults back
to the line length", but pygls reads one past the end as "after the line break", which made an
edit of the selected lines swallow the break (a stray blank line). Here a character is clamped
to the line's length *without* its break, counted in the client's negotiated units (UTF-16 by
default; pygls' position codec knows which), and a line past the end means the end of the text.
"""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace import TextDocument


def _line_content(line: str) -> str:
    return line[:-2] if line.endswith("\r\n") else line.rstrip("\r\n")


def offset_at(doc: TextDocument, position: types.Position) -> int:
    """The code-point offset of ``position`` in ``doc.source``, clamped to the text."""
    lines = doc.lines
    if position.line < 0:
        return 0
    if position.line >= len(lines):
        return len(doc.source)
    before = sum(len(line) for line in lines[: position.line])
    content = _line_content(lines[position.line])
    units = 0
    for index, char in enumerate(content):
        if units >= position.character:
            return before + index
        units += doc.position_codec.client_num_units(char)
    return before + len(content)


def position_at(doc: TextDocument, offset: int) -> types.Position:
    """The client position (negotiated units) of a code-point offset in ``doc.source``."""
    source = doc.source
    offset = max(0, min(offset, len(source)))
    line = source.count("\n", 0, offset)
    start = source.rfind("\n", 0, offset) + 1
    return types.Position(
        line=line, character=doc.position_codec.client_num_units(source[start:offset])
    )


def clamp_range(doc: TextDocument, rng: types.Range) -> tuple[int, int]:
    """The offsets of a range, each end clamped, in order."""
    start, end = offset_at(doc, rng.start), offset_at(doc, rng.end)
    return (start, end) if start <= end else (end, start)
