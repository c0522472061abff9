"""Post-processing of completion text, one rule per function, applied in ``postprocess``.

Each rule takes the raw text and the ``CompletionContext`` and returns the new text (``""``
drops the item). Golden cases live in tests/lsp/test_postprocess.py.
"""

from __future__ import annotations

from .context import CompletionContext

CLOSERS = set(")]}>\"'`;,")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def fit_fresh_line(text: str, ctx: CompletionContext) -> str:
    """On a line blank up to the cursor (Enter, then the editor's indentation), leading line
    breaks are dropped and the answer is moved to the cursor's column.

    The model often answers there as if the cursor line were finished: ``"\\n        return x"``.
    Inserted as is, that makes a whitespace-only line before the code. Its first code line goes
    at the cursor instead, and the lines after it keep their indentation relative to it; a first
    line indented less than the cursor belongs to an outer block (as ``limit_scope`` judges), so
    there is no item. (Text after the cursor on its line: ``limit_scope`` keeps the first line
    only, and a line break first means nothing to insert there.)
    """
    if ctx.line_prefix.strip() != "" or ctx.mid_line:
        return text
    lines = text.split("\n")
    skip = 0
    while skip < len(lines) - 1 and lines[skip].strip() == "":
        skip += 1
    if skip == 0:
        return text
    lines = lines[skip:]
    column, first = len(ctx.line_prefix), _indent(lines[0])
    if first < column:
        return ""
    shift = first - column  # deeper than the cursor: the whole answer moves left as one block
    return "\n".join(
        [lines[0][first:]] + [line[min(shift, _indent(line)) :] for line in lines[1:]]
    )


def no_doubled_indent(text: str, ctx: CompletionContext) -> str:
    """Leading blanks of the first line are dropped when the cursor already follows blanks.

    Models tokenize ``" return"`` as one token, so after a 4-space indent they often answer
    ``" return a * b"``: inserted as is, the line would get five spaces (and the scope rule
    below would measure the block from the wrong column).
    """
    if ctx.line_prefix[-1:] in (" ", "\t"):
        first, newline, rest = text.partition("\n")
        return first.lstrip(" \t") + newline + rest
    return text


def limit_scope(text: str, ctx: CompletionContext) -> str:
    """Keep the completion inside the current scope.

    * Single-line context (non-blank text after the cursor on its line): the completion may only
      finish this line, so stop at the first line break.
    * Otherwise stop at the end of the current block, judged by indentation: before the first
      line indented less than the cursor line, and before a new sibling block that starts after
      a blank line at the cursor line's indentation.
    """
    if ctx.mid_line:
        return text.split("\n", 1)[0]
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    cursor_line = ctx.line_prefix + lines[0]
    if ctx.line_prefix.strip() == "":
        ref = len(ctx.line_prefix) + _indent(lines[0])
    else:
        ref = _indent(cursor_line)
    kept = [lines[0]]
    seen_blank = False
    for line in lines[1:]:
        if line.strip() == "":
            seen_blank = True
            kept.append(line)
            continue
        ind = _indent(line)
        if ind < ref:
            break
        if ind == ref and seen_blank:
            break
        seen_blank = False
        kept.append(line)
    return "\n".join(kept)


def trim_suffix_overlap(text: str, ctx: CompletionContext) -> str:
    """Remove the end of the completion where it repeats the text after the cursor.

    * On the cursor line: the longest end of the completion equal to a start of the rest of the
      line (ignoring leading blanks) is cut if it is the whole rest of the line (two characters
      or more), at least three characters, or made only of closing characters such as ``)``
      ``]`` ``"`` ``;``.
    * Across lines: trailing completion lines equal (ignoring indentation) to the first
      non-blank lines after the cursor line are dropped (``}`` / ``end`` duplicated).
    """
    if not text:
        return text
    # Whole trailing lines duplicating the following lines.
    after_lines = [l.strip() for l in ctx.suffix.split("\n")[1:] if l.strip()]
    lines = text.split("\n")
    if len(lines) > 1 and after_lines:
        for k in range(min(len(lines) - 1, len(after_lines)), 0, -1):
            tail = [l.strip() for l in lines[len(lines) - k :]]
            if tail == after_lines[:k]:
                lines = lines[: len(lines) - k]
                text = "\n".join(lines).rstrip(" \t\n")
                break
    # The rest of the cursor line repeated at the end of the completion's first (only) line.
    rest = ctx.line_suffix.strip()
    if rest:
        body = text.rstrip(" \t")
        for k in range(min(len(rest), len(body)), 0, -1):
            piece = rest[:k]
            if body.endswith(piece) and (
                (k >= 2 and (k == len(rest) or k >= 3)) or all(c in CLOSERS for c in piece)
            ):
                return body[: len(body) - k]
    return text


def trim_trailing_whitespace(text: str, ctx: CompletionContext) -> str:
    """Trailing spaces and line breaks are never useful in ghost text."""
    return text.rstrip()


def drop_blank(text: str, ctx: CompletionContext) -> str:
    """Empty or whitespace-only completions are not shown."""
    return "" if text.strip() == "" else text


RULES = (fit_fresh_line, no_doubled_indent, limit_scope, trim_suffix_overlap, trim_trailing_whitespace, drop_blank)


def scope_ended(text: str, ctx: CompletionContext) -> bool:
    """Whether a streamed answer already runs past what ``limit_scope`` keeps (or what
    ``fit_fresh_line`` drops), so the rest of it would be thrown away: the stream can stop.

    Decided on the complete lines, and on the last, partial one once it holds code (its
    indentation is then final). A mid-line completion ends at its line break by ``stop``.
    """
    if ctx.mid_line:
        return False
    head, newline, partial = text.rpartition("\n")
    if not newline:
        return False
    decided = text if partial.strip() else head
    if not decided.strip():
        return False
    shaped = no_doubled_indent(fit_fresh_line(decided, ctx), ctx)
    return shaped == "" or limit_scope(shaped, ctx) != shaped


def postprocess(text: str, ctx: CompletionContext) -> str:
    """Apply every rule in order; ``""`` means "no item"."""
    for rule in RULES:
        text = rule(text, ctx)
        if not text:
            return ""
    return text
