"""The rule every wire's request models share: each top-level field is known, ignored on purpose
(it cannot change the answer), or refused by name; docs/PROTOCOL.md's tables list which."""
from __future__ import annotations

from typing import Any, Collection, Mapping

from gateway.errors import bad_request

# A refused field left at an empty value asks for nothing, so it is accepted.
EMPTY: tuple[Any, ...] = (None, {}, [])


def check_fields(
    data: Mapping[str, Any],
    known: Collection[str],
    ignored: Collection[str],
    refused: Mapping[str, str],
    empty: tuple[Any, ...] = EMPTY,
) -> None:
    """A 400 naming the first field that is neither known nor ignored; `refused` gives the reason
    for the fields a client of that API may send and this server does not support."""
    for key, value in data.items():
        if key in known or key in ignored:
            continue
        if key in refused:
            if value in empty:
                continue
            raise bad_request(f"{key}: {refused[key]}", param=key, code="unsupported_field")
        raise bad_request(
            f"{key}: unknown field; docs/PROTOCOL.md lists the fields this server takes",
            param=key,
            code="unsupported_field",
        )
