"""A small cache of completions, keyed by the prompt that produced them.

Two lookups:

* the same prompt again (same prefix window, suffix window and neighbours) gets the same text:
  the editor asking twice at one position (re-trigger, cursor back) costs no request;
* *typing along*: when the new prefix is an old prefix plus characters that are exactly the
  start of that old completion (and the text after the cursor is unchanged), the rest of the
  old completion is the answer. The user accepting ghost text letter by letter never waits.
"""

from __future__ import annotations

import collections
import dataclasses


@dataclasses.dataclass(frozen=True)
class Entry:
    prefix: str
    suffix: str
    text: str


class CompletionCache:
    def __init__(self, size: int = 64):
        self._size = size
        self._entries: collections.OrderedDict[tuple, Entry] = collections.OrderedDict()

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: tuple, prefix: str, suffix: str, text: str) -> None:
        self._entries[key] = Entry(prefix, suffix, text)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def get(self, key: tuple) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry.text

    def typed_along(self, prefix: str, suffix: str) -> str | None:
        """The rest of a cached completion the user has been typing, if any."""
        for entry in reversed(self._entries.values()):
            if entry.suffix != suffix or len(prefix) <= len(entry.prefix):
                continue
            if not prefix.startswith(entry.prefix):
                continue
            typed = prefix[len(entry.prefix) :]
            if entry.text.startswith(typed) and len(entry.text) > len(typed):
                return entry.text[len(typed) :]
        return None
