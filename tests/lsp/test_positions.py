"""Positions clamped to the text, in the client's negotiated units (pygls' TextDocument)."""

from lsprotocol import types
from pygls.workspace import PositionCodec, TextDocument

from lsp.positions import clamp_range, offset_at, position_at

TEXT = "def f():\n    return 1\nx = '😀é'\n"


def doc(encoding=types.PositionEncodingKind.Utf16) -> TextDocument:
    return TextDocument("file:///t.py", TEXT, position_codec=PositionCodec(encoding))


def pos(line, character):
    return types.Position(line=line, character=character)


def test_past_the_line_end_is_the_line_end_not_after_its_break():
    d = doc()
    end_of_line_1 = TEXT.index("\n", 9)
    assert offset_at(d, pos(1, len("    return 1") + 1)) == end_of_line_1  # Neovim's V selection
    assert offset_at(d, pos(1, 10_000)) == end_of_line_1
    assert offset_at(d, pos(2, 0)) == end_of_line_1 + 1


def test_a_line_past_the_end_is_the_end_of_the_text():
    d = doc()
    assert offset_at(d, pos(3, 0)) == len(TEXT)
    assert offset_at(d, pos(99, 5)) == len(TEXT)
    assert position_at(d, len(TEXT)) == pos(3, 0)


def test_utf16_and_utf32_units():
    # x = '😀é' : the emoji is two UTF-16 units, one UTF-32 unit
    start = TEXT.index("x")
    assert offset_at(doc(), pos(2, 7)) == start + 6  # after the emoji
    assert offset_at(doc(types.PositionEncodingKind.Utf32), pos(2, 6)) == start + 6
    assert position_at(doc(), start + 6) == pos(2, 7)
    assert position_at(doc(types.PositionEncodingKind.Utf32), start + 6) == pos(2, 6)
    assert offset_at(doc(), pos(2, 10)) == start + len("x = '😀é'")  # clamped: 9 units


def test_linewise_selection_covers_exactly_its_lines():
    d = doc()
    start, end = clamp_range(d, types.Range(start=pos(0, 0), end=pos(1, 13)))
    assert TEXT[start:end] == "def f():\n    return 1"
    # a reversed range is put in order
    assert clamp_range(d, types.Range(start=pos(1, 13), end=pos(0, 0))) == (start, end)
