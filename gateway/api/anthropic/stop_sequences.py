"""Anthropic's `stop_sequences`, matched on the text as it streams: the answer names the sequence
that stopped it (`stop_reason: "stop_sequence"`, `stop_sequence`), which an engine's own stop
strings do not report. Text that could be the start of a sequence is held back until the next
piece tells; the sequence itself is never sent, as Anthropic sends it not either."""
from __future__ import annotations

from typing import Optional


class StopMatcher:
    def __init__(self, sequences: list[str]):
        self.sequences = sequences
        self.matched: Optional[str] = None
        self._held = ""

    def feed(self, text: str) -> str:
        """The part of the text seen so far that can be sent now."""
        if not self.sequences or self.matched is not None:
            return text if self.matched is None else ""
        buffer = self._held + text
        first: Optional[tuple[int, str]] = None
        for seq in self.sequences:
            at = buffer.find(seq)
            if at >= 0 and (first is None or at < first[0]):
                first = (at, seq)
        if first is not None:
            self.matched = first[1]
            self._held = ""
            return buffer[: first[0]]
        keep = self._partial(buffer)
        self._held = buffer[len(buffer) - keep:] if keep else ""
        return buffer[: len(buffer) - keep]

    def flush(self) -> str:
        """What was held back, once the text has ended without a match."""
        held, self._held = self._held, ""
        return held

    def _partial(self, buffer: str) -> int:
        """Length of the longest end of `buffer` that begins some sequence."""
        longest = 0
        for seq in self.sequences:
            for n in range(min(len(seq) - 1, len(buffer)), longest, -1):
                if buffer.endswith(seq[:n]):
                    longest = n
                    break
        return longest
