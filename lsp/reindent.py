"""Fitting a code action's answer to the indentation of the selection it replaces or follows.

Models answer with the code dedented (or indented as they please): pasted as is over a method's
lines, a method would leave its class. The answer is dedented, then indented to the selection's
own indentation, its lines keeping their indentation relative to each other.
"""

from __future__ import annotations

import os
import textwrap


def line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def widen_to_indentation(text: str, start: int) -> int:
    """A selection that starts in (or at the end of) its first line's indentation starts at the
    line's start instead, so that the selection, the prompt and the edit hold whole lines."""
    begin = line_start(text, start)
    return begin if text[begin:start].strip(" \t") == "" else start


def indentation(selection: str, starts_line: bool) -> str:
    """The leading blanks the selection's non-blank lines share (its first line not counted
    when the selection starts after other text on that line)."""
    lines = selection.split("\n")
    if not starts_line:
        lines = lines[1:]
    indents = [line[: len(line) - len(line.lstrip(" \t"))] for line in lines if line.strip()]
    return os.path.commonprefix(indents) if indents else ""


def fit(code: str, indent: str, starts_line: bool = True) -> str:
    """``code`` at ``indent``: every non-blank line, the first excepted when the text goes after
    other text on its line (``starts_line`` false: that line's indentation is already there)."""
    lines = code.split("\n")
    first = [] if starts_line else [lines.pop(0).lstrip(" \t")]
    body = textwrap.dedent("\n".join(lines)).split("\n") if lines else []
    return "\n".join(first + [indent + line if line.strip() else "" for line in body])
