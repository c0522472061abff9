"""gpt-oss "harmony" chat format through the `openai-harmony` package, fully offline.

One file per concern: vocab.py (the o200k_base vocabulary without network, the encoding, its
stop and special tokens), render.py (chat messages -> prompt token ids), parser.py (streamed
output token ids -> content and reasoning).

What the engine uses:
- `render_chat(messages, reasoning_effort=...)` -> prompt token ids (system + developer + turns,
  ending with `<|start|>assistant`), `stop_token_ids()` (`<|return|>`, `<|call|>`);
- `HarmonyStreamParser.feed(token_ids)` -> `(text, reasoning)`: the `final` channel (and
  `commentary` without a recipient) is content, the `analysis` channel is reasoning.
Nothing here imports torch or vLLM; openai-harmony is imported when first used.
"""
from __future__ import annotations

from gateway.prompts.harmony.parser import HarmonyStreamParser
from gateway.prompts.harmony.render import is_harmony_model, render_chat, render_chat_text
from gateway.prompts.harmony.vocab import (
    HarmonyUnavailable, ensure_vocab, get_encoding, special_tokens, stop_token_ids,
)

__all__ = [
    "HarmonyStreamParser", "HarmonyUnavailable", "ensure_vocab", "get_encoding", "is_harmony_model",
    "render_chat", "render_chat_text", "special_tokens", "stop_token_ids",
]
