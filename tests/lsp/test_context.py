"""Context building: token budget, line boundaries, neighbours, UTF-16 positions."""

from lsprotocol import types
from pygls.workspace import TextDocument

from lsp.context import (
    CHARS_PER_TOKEN,
    best_snippets,
    build_context,
    estimate_tokens,
    prefix_window,
    suffix_window,
)

LINES = "".join(f"line {i:03d} = {i}\n" for i in range(200))  # 15 chars per line


def test_estimate_tokens_is_chars_over_3_5_rounded_up():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abc") == 1
    assert estimate_tokens("a" * 7) == 2
    assert estimate_tokens("a" * 8) == 3


def test_prefix_window_keeps_whole_lines_within_budget():
    before = LINES + "x = fo"
    out = prefix_window(before, 30, anchor_lines=1)  # 105 chars
    assert before.endswith(out)
    assert len(out) <= 30 * CHARS_PER_TOKEN
    # starts at a line boundary, ends at the cursor
    assert before[len(before) - len(out) - 1] == "\n"
    assert out.endswith("x = fo")
    # as many whole lines as fit: one more would exceed the budget
    assert len(out) + 15 > 30 * CHARS_PER_TOKEN


def test_prefix_window_start_is_anchored_while_typing():
    text = LINES[: 15 * 100]  # lines 0..99
    starts = set()
    for typed in range(1, 40):  # typing a new line character by character
        out = prefix_window(text + "y" * typed, 60)
        assert len(out) <= 60 * CHARS_PER_TOKEN
        starts.add(out.split("\n", 1)[0])
    # without anchoring the start would slide by a line every 15 characters typed
    assert len(starts) == 1
    (start,) = starts
    assert int(start.split()[1]) % 8 == 0


def test_prefix_window_whole_text_when_it_fits():
    assert prefix_window("a\nb\nc", 100) == "a\nb\nc"


def test_prefix_window_cuts_an_overlong_cursor_line_from_the_cursor():
    before = "short\n" + "y" * 100
    out = prefix_window(before, 10)
    assert out == "y" * 35


def test_suffix_window_keeps_rest_of_line_and_whole_lines():
    after = ")\n" + LINES
    out = suffix_window(after, 20)  # 70 chars
    assert after.startswith(out)
    assert out.endswith("\n")
    assert len(out) <= 70
    assert len(out) + 15 > 70


def test_suffix_window_without_newline():
    assert suffix_window("abc", 10) == "abc"


def test_build_context_respects_total_budget_and_marks_single_line_context():
    text = LINES + "result = compute(|)\n" + LINES
    offset = text.index("|")
    text = text.replace("|", "")
    ctx = build_context(text, offset, 100)
    assert ctx.prefix.endswith("result = compute(")
    assert ctx.suffix.startswith(")\n")
    assert ctx.line_suffix == ")"
    assert ctx.mid_line
    assert ctx.estimated_tokens <= 100 + 2  # per-window rounding
    # prefix gets the larger share
    assert len(ctx.prefix) > len(ctx.suffix)


def test_build_context_gives_unused_prefix_budget_to_the_suffix():
    text = "def f():\n    \n" + LINES
    ctx = build_context(text, len("def f():\n    "), 100)
    assert ctx.prefix == "def f():\n    "
    assert not ctx.mid_line
    assert len(ctx.suffix) > 100 * 0.25 * CHARS_PER_TOKEN


def test_neighbour_snippets_pick_the_most_similar_chunk_within_budget():
    other = "".join(f"unrelated_{i} = {i}\n" for i in range(40))
    other += "def parse_config(path):\n    with open(path) as handle:\n        return load_yaml(handle)\n"
    docs = [("/src/other.py", other), ("/src/empty.py", "")]
    snippets = best_snippets("config = parse_config(path)\nload_yaml", docs, 200)
    assert len(snippets) == 1
    assert snippets[0].path == "/src/other.py"
    assert "def parse_config" in snippets[0].content
    assert best_snippets("parse_config", docs, 1) == []  # over budget: nothing


def test_build_context_adds_neighbours_only_when_given():
    text = "x = parse_config(p)\n"
    other = [("/a.py", "def parse_config(p):\n    return p\n")]
    assert build_context(text, len(text), 200).files == []
    ctx = build_context(text, len(text), 200, other)
    assert [f.path for f in ctx.files] == ["/a.py"]


def test_utf16_positions_for_emoji_and_cjk():
    # 😀 is 2 UTF-16 code units, 漢 is 1: the server must map client columns to code points.
    text = 's = "😀漢字"; t = 1\n'
    doc = TextDocument("file:///u.py", text)
    col = len('s = "') + 2 + 2 + 1  # after '😀漢字"' in UTF-16 units
    offset = doc.offset_at_position(types.Position(line=0, character=col))
    assert text[:offset] == 's = "😀漢字"'
    ctx = build_context(text, offset, 100)
    assert ctx.prefix == 's = "😀漢字"'
    assert ctx.line_suffix == "; t = 1"
