"""Fit a chat history into a token window: drop the oldest turns first, keep the system prompt.

Turns are dropped whole (a user message with the answers that follow it) so the remaining
history still alternates the way chat templates expect. The cut point is found by binary
search over turn boundaries: O(log turns) template renderings instead of one per message.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from gateway.prompts.tokenizer import PromptTooLongError, Tokenizer, template_tools

_LEADING_ROLES = ("system", "developer")
# Tokens a chat template may add beyond the messages' own JSON (BOS, a default system prompt).
TEMPLATE_ALLOWANCE = 256


@dataclass
class FittedHistory:
    messages: list[dict[str, Any]]
    dropped: int
    prompt_tokens: Optional[int]  # None: under the window by the byte bound, not counted


def fits_by_bytes(messages: list[dict[str, Any]], budget: int, tools: Sequence[dict[str, Any]] = ()) -> bool:
    """A bound that needs no tokenizer: every token of the rendered prompt covers at least one
    byte of it, and the messages' (and tools') JSON holds every byte of their content plus
    framing. Short chats, the common case, skip the template rendering and the tokenizer call
    (an engine round trip each)."""
    size = len(json.dumps(messages, ensure_ascii=False).encode())
    if tools:
        size += len(json.dumps(list(tools), ensure_ascii=False).encode())
    return size + TEMPLATE_ALLOWANCE <= budget


async def count_prompt(
    tokenizer: Tokenizer, messages: list[dict[str, Any]], tools: Sequence[dict[str, Any]] = ()
) -> int:
    """Tokens of the prompt the model sees for `messages`, with `tools` (neutral function tools)
    rendered by the template as the engine will. A remote tokenizer counts in one call (vLLM's
    /tokenize with messages)."""
    kwargs = {"tools": template_tools(list(tools))} if tools else {}
    count_chat = getattr(tokenizer, "count_chat", None)
    if count_chat is not None:
        return await count_chat(messages, **kwargs)
    return await tokenizer.count(await tokenizer.apply_chat_template(messages, **kwargs))


async def fit_history(
    tokenizer: Tokenizer, messages: list[dict[str, Any]], budget: int, tools: Sequence[dict[str, Any]] = ()
) -> FittedHistory:
    head = 0
    while head < len(messages) and messages[head]["role"] in _LEADING_ROLES:
        head += 1
    system, rest = messages[:head], messages[head:]
    if fits_by_bytes(messages, budget, tools):
        return FittedHistory(messages, 0, None)
    total = await count_prompt(tokenizer, messages, tools)
    if total <= budget or not rest:
        if total > budget:
            raise PromptTooLongError(total, budget)
        return FittedHistory(messages, 0, total)
    # Candidate cuts: the start of each user turn after the first, and finally the last message.
    cuts = [i for i in range(1, len(rest)) if rest[i]["role"] == "user"]
    if not cuts or cuts[-1] != len(rest) - 1:
        cuts.append(len(rest) - 1)
    lo, hi, best = 0, len(cuts) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = system + rest[cuts[mid]:]
        tokens = await count_prompt(tokenizer, candidate, tools)
        if tokens <= budget:
            best, hi = (cuts[mid], tokens), mid - 1
        else:
            lo = mid + 1
    if best is None:
        last = system + rest[-1:]
        raise PromptTooLongError(await count_prompt(tokenizer, last, tools), budget)
    cut, tokens = best
    return FittedHistory(system + rest[cut:], cut, tokens)
