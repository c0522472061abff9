"""Which replica serves a request: prefix affinity within a load bound, or round robin."""
from __future__ import annotations

import itertools
from typing import Optional, Sequence

from gateway.engines.base import GenerationRequest
from gateway.engines.upstream.health import Replica
from gateway.engines.upstream.ring import BoundedLoadRing


def affinity_key(request: GenerationRequest, chars: int) -> str:
    """The prompt's leading part, which decides where its prefix is cached.

    A raw prompt (FIM already rendered): its first `chars` characters — an editor's window of
    the file starts at the same line while the user types below it. A chat: the leading system
    messages and the first user message — the part every later turn of the conversation repeats.
    """
    if request.messages is None:
        return (request.prompt or "")[:chars]
    parts = []
    for message in request.messages:
        content = message.get("content")
        parts.append(f"{message.get('role')}\x00{content if isinstance(content, str) else content!r}\x00")
        if message.get("role") not in ("system", "developer"):
            break
    return "".join(parts)[:chars]


class Router:
    def __init__(self, replicas: Sequence[Replica], policy: str, load_factor: float, prefix_chars: int):
        self.replicas = list(replicas)
        self.policy = policy
        self.prefix_chars = prefix_chars
        self._ring = BoundedLoadRing([r.url for r in self.replicas], load_factor)
        self._by_url = {r.url: r for r in self.replicas}
        self._turn = itertools.count()

    def choose(self, request: GenerationRequest, exclude: set[str] = frozenset()) -> Optional[Replica]:
        """A replica that is up and not in `exclude` (the ones this request already failed on)."""
        up = [r for r in self.replicas if r.up and r.url not in exclude]
        if not up:
            return None
        if self.policy == "round_robin" or len(up) == 1:
            return up[next(self._turn) % len(up)]
        loads = {r.url: r.in_flight for r in up}
        name = self._ring.pick(affinity_key(request, self.prefix_chars), loads, loads.keys())
        return self._by_url[name] if name else min(up, key=lambda r: r.in_flight)
