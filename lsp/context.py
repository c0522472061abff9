"""What code goes into a completion prompt: prefix/suffix windows, neighbour snippets, budget.

Token counts are *estimated* at 3.5 characters per token (``estimate_tokens``). Asking the
gateway's tokenizer would cost an HTTP round trip per keystroke, which is more than the whole
language-server overhead budget (5 ms p50); code tokenizes at 3-4 characters per token for BPE
vocabularies (SmolLM2, Qwen2.5-Coder, StarCoder2), and an estimate a little on the short side
only means a window a little smaller than it could be. The gateway still truncates for real.

Windows are cut at line boundaries: the prefix is the text of the cursor line up to the cursor
plus as many *whole* lines above it as fit; the suffix is the rest of the cursor line plus
whole lines below it. A partial line would confuse the model about indentation.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable

CHARS_PER_TOKEN = 3.5

# Shares of the budget. The prefix matters most; what a window leaves unused goes to the others.
SUFFIX_SHARE = 0.25
NEIGHBOUR_SHARE = 0.20
NEIGHBOUR_CHUNK_LINES = 16
ANCHOR_LINES = 8
MAX_NEIGHBOUR_DOCS = 4


def estimate_tokens(text: str) -> int:
    """Cheap token estimate: ceil(len / 3.5)."""
    if not text:
        return 0
    return int(-(-len(text) // CHARS_PER_TOKEN))


@dataclasses.dataclass
class Snippet:
    path: str
    content: str


@dataclasses.dataclass
class CompletionContext:
    prefix: str
    suffix: str
    files: list[Snippet]
    line_prefix: str  # text of the cursor line before the cursor
    line_suffix: str  # text of the cursor line after the cursor
    language: str | None = None

    @property
    def mid_line(self) -> bool:
        """True when there is non-blank text after the cursor on its line (single-line context)."""
        return self.line_suffix.strip() != ""

    @property
    def estimated_tokens(self) -> int:
        return estimate_tokens(self.prefix) + estimate_tokens(self.suffix) + sum(
            estimate_tokens(f.content) + estimate_tokens(f.path) for f in self.files
        )


def prefix_window(text_before: str, budget_tokens: int, anchor_lines: int = ANCHOR_LINES) -> str:
    """The end of ``text_before``: the cursor line's start plus whole lines, within the budget.

    The cursor line (possibly partial) is always kept, even if alone it exceeds the budget,
    in which case it is cut to the budget from the cursor backwards.

    When the file is longer than the budget, the window starts on a line whose number is a
    multiple of ``anchor_lines``: the start then stays put while the user types (instead of
    sliding by a line every few keystrokes), so consecutive prompts share their beginning and
    the engine's prompt cache (llama.cpp slots, vLLM prefix caching) skips re-reading it. The
    price is up to ``anchor_lines - 1`` lines less context.
    """
    limit = int(budget_tokens * CHARS_PER_TOKEN)
    line_start = text_before.rfind("\n") + 1  # start of the cursor line
    if len(text_before) - line_start > limit:
        return text_before[len(text_before) - limit :] if limit > 0 else ""
    cut = line_start
    while cut > 0:
        start = text_before.rfind("\n", 0, cut - 1) + 1  # start of the previous line
        if len(text_before) - start > limit:
            break
        cut = start
    if cut > 0 and anchor_lines > 1:
        line_no = text_before.count("\n", 0, cut)
        while line_no % anchor_lines and cut < line_start:
            cut = text_before.index("\n", cut) + 1
            line_no += 1
    return text_before[cut:]


def suffix_window(text_after: str, budget_tokens: int) -> str:
    """The start of ``text_after``: the rest of the cursor line plus whole lines, within budget."""
    limit = int(budget_tokens * CHARS_PER_TOKEN)
    end = text_after.find("\n")
    if end < 0:
        return text_after[:limit]
    end += 1
    if end > limit:
        return text_after[: min(end - 1, limit)]
    while end < len(text_after):
        nxt = text_after.find("\n", end)
        nxt = len(text_after) if nxt < 0 else nxt + 1
        if nxt > limit:
            break
        end = nxt
    return text_after[:end]


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text))


def best_snippets(
    reference: str, documents: Iterable[tuple[str, str]], budget_tokens: int
) -> list[Snippet]:
    """Chunks of other documents most similar to ``reference`` (Jaccard over identifiers).

    Each document is split in chunks of NEIGHBOUR_CHUNK_LINES whole lines; the best chunk of each
    document competes, highest score first, until the budget is spent. Chunks sharing no
    identifier with the reference are not sent.
    """
    ref = _words(reference)
    if not ref or budget_tokens <= 0:
        return []
    candidates: list[tuple[float, str, str]] = []
    for path, text in documents:
        lines = text.splitlines(keepends=True)
        best: tuple[float, str] | None = None
        for i in range(0, max(len(lines), 1), NEIGHBOUR_CHUNK_LINES // 2):
            chunk = "".join(lines[i : i + NEIGHBOUR_CHUNK_LINES])
            words = _words(chunk)
            if not words:
                continue
            score = len(ref & words) / len(ref | words)
            if score > 0 and (best is None or score > best[0]):
                best = (score, chunk)
        if best is not None:
            candidates.append((best[0], path, best[1]))
    candidates.sort(key=lambda c: -c[0])
    chosen: list[Snippet] = []
    left = budget_tokens
    for _score, path, chunk in candidates[:MAX_NEIGHBOUR_DOCS]:
        cost = estimate_tokens(chunk) + estimate_tokens(path)
        if cost > left:
            continue
        chosen.append(Snippet(path=path, content=chunk))
        left -= cost
    return chosen


def build_context(
    text: str,
    offset: int,
    budget_tokens: int,
    neighbours: Iterable[tuple[str, str]] = (),
    language: str | None = None,
) -> CompletionContext:
    """Cut prefix, suffix (and neighbour snippets, if any given) to ``budget_tokens`` in total.

    ``offset`` is a code-point index into ``text`` (convert LSP positions with pygls'
    ``TextDocument.offset_at_position``, which handles UTF-16/UTF-8/UTF-32 encodings).
    """
    before, after = text[:offset], text[offset:]
    line_prefix = before[before.rfind("\n") + 1 :]
    nl = after.find("\n")
    line_suffix = after if nl < 0 else after[:nl]

    neighbours = list(neighbours)
    suffix_cap = int(budget_tokens * SUFFIX_SHARE)
    neighbour_cap = int(budget_tokens * NEIGHBOUR_SHARE) if neighbours else 0
    prefix_cap = budget_tokens - suffix_cap - neighbour_cap

    prefix = prefix_window(before, prefix_cap)
    spare = prefix_cap - estimate_tokens(prefix)
    suffix = suffix_window(after, suffix_cap + max(spare, 0))
    spare = budget_tokens - estimate_tokens(prefix) - estimate_tokens(suffix)
    files: list[Snippet] = []
    if neighbours:
        # Compare against the last lines before the cursor: what the user is writing now.
        reference = "\n".join(prefix.splitlines()[-NEIGHBOUR_CHUNK_LINES:])
        files = best_snippets(reference, neighbours, max(spare, 0))
    return CompletionContext(
        prefix=prefix,
        suffix=suffix,
        files=files,
        line_prefix=line_prefix,
        line_suffix=line_suffix,
        language=language,
    )
