"""Chat prompts for code actions and Ask AI: the selection with its file, language and
surrounding code, cut to the context budget (same line-boundary windows as completion)."""

from __future__ import annotations

import re

from .context import prefix_window, suffix_window

SYSTEM = (
    "You are a careful senior software engineer helping inside a code editor. "
    "Answer concisely. When you write code, put it in one fenced code block."
)


def fence_language(language: str | None) -> str:
    return (language or "").replace("plaintext", "")


def code_context(
    text: str, start: int, end: int, budget_tokens: int
) -> tuple[str, str, str]:
    """(code before, selection, code after); before/after cut at line boundaries to budget."""
    before = prefix_window(text[:start], int(budget_tokens * 0.6))
    after = suffix_window(text[end:], int(budget_tokens * 0.4))
    return before, text[start:end], after


def describe(
    path: str, language: str | None, before: str, selection: str, after: str
) -> str:
    lang = fence_language(language)
    parts = [f"File: {path}", f"Language: {language or 'unknown'}"]
    if before.strip() or after.strip():
        parts.append(
            "Surrounding code (the selection is marked <selection>...</selection>):\n"
            f"```{lang}\n{before}<selection>{selection}</selection>{after}\n```"
        )
    parts.append(f"Selected code:\n```{lang}\n{selection}\n```")
    return "\n\n".join(parts)


_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|\Z)", re.S)


def code_complete(answer: str) -> bool:
    """Whether the code ``extract_code`` takes is whole in an answer cut at the token limit:
    only when its fenced block was closed before the cut."""
    match = _FENCE.search(answer)
    return match is not None and match.group(0).endswith("```")


def extract_code(answer: str) -> str:
    """The first fenced code block of an answer, or the whole answer when there is none."""
    match = _FENCE.search(answer)
    code = match.group(1) if match else answer
    return code.strip("\n")
