"""Golden cases for each post-processing rule (one test per rule, a few cases each)."""

import pytest

from lsp.context import CompletionContext
from lsp.postprocess import (
    drop_blank,
    fit_fresh_line,
    limit_scope,
    no_doubled_indent,
    postprocess,
    scope_ended,
    trim_suffix_overlap,
    trim_trailing_whitespace,
)


def ctx(line_prefix: str, line_suffix: str = "", following: str = "") -> CompletionContext:
    suffix = line_suffix + ("\n" + following if following else "")
    return CompletionContext(
        prefix="...\n" + line_prefix,
        suffix=suffix,
        files=[],
        line_prefix=line_prefix,
        line_suffix=line_suffix,
    )


@pytest.mark.parametrize(
    "text, context, expected",
    [
        # after a 4-space indent the model's " return" token would make five
        (" return a * b", ctx("    "), "return a * b"),
        ("\treturn x\n    y", ctx("\t"), "return x\n    y"),
        # after "x = " a leading space would double the blank
        (" 5", ctx("x = "), "5"),
        # no blank before the cursor: the model's space is the separator, kept
        (" = 5", ctx("x"), " = 5"),
        # only the first line is affected
        ("a\n    b", ctx("    "), "a\n    b"),
    ],
)
def test_no_doubled_indent(text, context, expected):
    assert no_doubled_indent(text, context) == expected


@pytest.mark.parametrize(
    "text, context, expected",
    [
        # Enter on an indented line: the model's line break and indentation are the cursor's
        ("\n        return message\n", ctx("        "), "return message\n"),
        ("\n\n    x = 1\n    y = 2", ctx("    "), "x = 1\n    y = 2"),
        # deeper than the cursor: moved left as one block
        ("\n        if a:\n            b()", ctx("    "), "if a:\n        b()"),
        # shallower than the cursor: an outer block's code, no item
        ("\ndef other():\n    pass", ctx("    "), ""),
        # column 0: no empty line first either
        ("\ndef other():\n    pass", ctx(""), "def other():\n    pass"),
        # text before the cursor: the line break is the model's (a block opener's body)
        ("\n    return a", ctx("def f(a):"), "\n    return a"),
        # text after the cursor: left to limit_scope (first line only)
        ("\n    x", ctx("    ", "foo()"), "\n    x"),
        # no line break first: unchanged
        ("return a\n    b", ctx("    "), "return a\n    b"),
    ],
)
def test_fit_fresh_line(text, context, expected):
    assert fit_fresh_line(text, context) == expected


def test_pipeline_on_a_fresh_indented_line():
    # what the test model answers after Enter inside a method (issue 30's case)
    text = "\n        return message\n\n# Test the Greeter class\ngreeter = Gre"
    assert postprocess(text, ctx("        ")) == "return message"


def test_pipeline_measures_the_block_from_the_cursor_column():
    # " return a" after 4 spaces, then a sibling line at 4: kept, not cut as a dedent
    assert postprocess(" x = 1\n    y = 2\nz()", ctx("    ")) == "x = 1\n    y = 2"


@pytest.mark.parametrize(
    "text, context, expected",
    [
        # single-line context: only the rest of this line
        ("a, b)\n    return a\n", ctx("x = f(", ")"), "a, b)"),
        # end of line, block opener: the body stays, the dedent ends it
        (
            "\n    return a + b\n\nprint(add(1, 2))\n",
            ctx("def add(a, b):"),
            "\n    return a + b\n",
        ),
        # blank line at cursor indentation inside a block: stop at the dedent
        (
            "total = 0\n    for x in xs:\n        total += x\n    return total\nother()\n",
            ctx("    "),
            "total = 0\n    for x in xs:\n        total += x\n    return total",
        ),
        # new sibling block after a blank line ends the completion
        ("def a():\n    pass\n\ndef b():\n    pass\n", ctx(""), "def a():\n    pass\n"),
        # one line: untouched
        ("return x", ctx("    "), "return x"),
    ],
)
def test_limit_scope(text, context, expected):
    assert limit_scope(text, context) == expected


@pytest.mark.parametrize(
    "text, context, expected",
    [
        # closing characters already after the cursor
        ("a, b)", ctx("x = f(", ")"), "a, b"),
        ('hello")', ctx("print(\"", '")'), "hello"),
        # the whole rest of the line repeated
        ("1, 2) + g(y)", ctx("x = f(", ") + g(y)"), "1, 2"),
        # a single letter that happens to match is kept
        ("value", ctx("x = ", "e"), "value"),
        # trailing lines duplicating the lines after the cursor
        (
            "if x:\n        y()\n    }",
            ctx("    ", "", "    }\n"),
            "if x:\n        y()",
        ),
        # nothing to trim
        ("abc", ctx("x = ", ""), "abc"),
    ],
)
def test_trim_suffix_overlap(text, context, expected):
    assert trim_suffix_overlap(text, context) == expected


def test_trim_trailing_whitespace():
    assert trim_trailing_whitespace("foo()  \n\n", ctx("")) == "foo()"
    assert trim_trailing_whitespace("  foo()", ctx("")) == "  foo()"


@pytest.mark.parametrize("text, expected", [("", ""), ("   ", ""), ("\n\t\n", ""), (" x", " x")])
def test_drop_blank(text, expected):
    assert drop_blank(text, ctx("")) == expected


def test_pipeline_drops_what_only_duplicates_the_suffix():
    assert postprocess(")", ctx("f(", ")")) == ""
    assert postprocess("x)\nmore", ctx("f(", ")")) == "x"
    assert postprocess("  \n", ctx("")) == ""


@pytest.mark.parametrize(
    "text, context, ended",
    [
        # Enter after a `def` line (the editor indents): the body, then the model goes on
        ("return math.pi * r ** 2", ctx("    "), False),
        ("return math.pi * r ** 2\n\n\n", ctx("    "), False),  # blank lines: undecided
        ("return math.pi * r ** 2\n\n\nd", ctx("    "), True),  # an outer line has begun
        ("x = 1\n    y = 2\n    ", ctx("    "), False),  # the partial line's indent may grow
        ("x = 1\n    y = 2\n  z", ctx("    "), True),
        ("x = 1\n\n    def g", ctx("    "), True),  # a sibling block after a blank line
        # the model's own line break first (fit_fresh_line)
        ("\n", ctx("    "), False),
        ("\n        return message\n", ctx("        "), False),
        ("\ndef other", ctx("    "), True),  # shallower than the cursor: no item at all
        # mid-line: its `stop` ends it at the line break
        ("a)\nb", ctx("f(", ")"), False),
    ],
)
def test_scope_ended(text, context, ended):
    assert scope_ended(text, context) is ended
    if ended:  # what is cut is the same as if the whole answer had come
        assert postprocess(text + "\nmore()\n", context) == postprocess(text, context)
