"""The responses kept for `previous_response_id` and GET/DELETE /v1/responses/{id}: in memory,
bounded (the oldest go first), lost on restart. The serving core stays stateless: this is the
only state of the Responses API, and it lives in this module."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional

from aiohttp import web

# Responses kept at most. Each holds its whole conversation (an agent's is tens of KB), so a few
# hundred bound the memory to tens of MB.
MAX_STORED_RESPONSES = 512


@dataclass
class Stored:
    response: dict[str, Any]  # the response object, as GET answers it
    # The conversation up to and including this response's output, as neutral chat messages
    # (without `instructions`, which a follow-up does not inherit).
    conversation: list[dict[str, Any]]


class ResponseStore:
    def __init__(self, capacity: int = MAX_STORED_RESPONSES):
        self.capacity = capacity
        self._items: OrderedDict[str, Stored] = OrderedDict()

    def put(self, response_id: str, stored: Stored) -> None:
        self._items[response_id] = stored
        self._items.move_to_end(response_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def get(self, response_id: str) -> Optional[Stored]:
        return self._items.get(response_id)

    def delete(self, response_id: str) -> bool:
        return self._items.pop(response_id, None) is not None

    def __len__(self) -> int:
        return len(self._items)


STORE = web.AppKey("responses_store", ResponseStore)


def setup(app: web.Application) -> None:
    app[STORE] = ResponseStore()
