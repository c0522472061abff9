"""Streamed gpt-oss output (token ids) -> (content, reasoning), by harmony channel."""
from __future__ import annotations

from typing import Any, Iterable, Optional

from gateway.prompts.harmony.vocab import get_encoding

# Tokens the model may spend on a message header before we decide it is not speaking harmony
# (a random-weight test model, a wrong checkpoint) and show its raw output instead.
_MAX_HEADER_TOKENS = 48


class HarmonyStreamParser:
    """Incremental parse of an assistant completion's token ids into (content, reasoning).

    A model that does not produce a harmony header within a few dozen tokens (random weights, a
    wrong checkpoint) is shown raw: its tokens decoded as plain content, so nothing is lost.
    """

    def __init__(self, encoding: Any = None):
        import openai_harmony as oh

        self._oh = oh
        self._enc = encoding or get_encoding()
        self._parser = oh.StreamableParser(self._enc, role=oh.Role.ASSISTANT, strict=False)
        self._raw = False
        self._header_tokens = 0
        self._pending: list[int] = []  # tokens not yet shown, raw mode / fallback
        self._emitted_any = False
        self._stops = set(self._enc.stop_tokens())
        self._raw_tokens: list[int] = []
        self._raw_shown = 0

    def _decode_raw(self, tokens: Iterable[int], final: bool = False) -> str:
        """Raw-mode text: all raw tokens decoded so far, minus what was already shown; a trailing
        replacement character (a split UTF-8 sequence) waits for the next token."""
        self._raw_tokens.extend(t for t in tokens if t not in self._stops)
        try:
            full = self._enc.decode(self._raw_tokens)
        except Exception:
            return ""
        if not final:
            while full.endswith("\ufffd"):
                full = full[:-1]
        if len(full) < self._raw_shown:
            return ""
        out = full[self._raw_shown:]
        self._raw_shown = len(full)
        return out

    def feed(self, token_ids: Iterable[int]) -> tuple[str, str]:
        text, reasoning = [], []
        for t in token_ids:
            if self._raw:
                self._pending.append(t)
                continue
            try:
                self._parser.process(t)
            except Exception:
                self._switch_raw(t)
                continue
            self._pending.append(t)
            state = self._parser.state
            if state == self._oh.StreamState.CONTENT:
                self._header_tokens = 0
                self._pending.clear()
                delta = self._parser.last_content_delta
                if delta:
                    self._emitted_any = True
                    channel = self._parser.current_channel
                    if channel == "analysis":
                        reasoning.append(delta)
                    elif channel == "final" or (channel in (None, "commentary") and not self._parser.current_recipient):
                        text.append(delta)
            elif state == self._oh.StreamState.HEADER:
                self._header_tokens += 1
                if self._header_tokens > _MAX_HEADER_TOKENS and not self._emitted_any:
                    self._switch_raw(None)
            else:
                self._header_tokens = 0
                self._pending.clear()
        if self._raw and self._pending:
            text.append(self._decode_raw(self._pending))
            self._pending.clear()
        return "".join(text), "".join(reasoning)

    def _switch_raw(self, token: Optional[int]) -> None:
        self._raw = True
        if token is not None:
            self._pending.append(token)

    def finish(self) -> tuple[str, str]:
        """At the end of generation: whatever is still held back (an unfinished header)."""
        text = ""
        if self._raw or (self._pending and not self._emitted_any):
            text = self._decode_raw(self._pending, final=True)
        self._pending.clear()
        return text, ""
