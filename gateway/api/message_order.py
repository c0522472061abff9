"""The order rules a chat history must keep, the same for every wire format.

A history may end with one assistant message: the answer so far, which the model continues.
Two or more at the end, or a last one carrying tool calls (whose results never came), cannot
be continued: llama.cpp answered both with a 500, and no engine has a meaning for them.
"""
from __future__ import annotations

from typing import Sequence

from gateway.errors import bad_request


def check_message_order(messages: Sequence[tuple[str, bool]]) -> None:
    """`messages` as (role, carries tool calls) pairs; a 400 naming the message that breaks a rule."""
    if not messages or messages[-1][0] != "assistant":
        return
    last = len(messages) - 1
    if messages[last][1]:
        raise bad_request(
            f"messages[{last}].tool_calls: the history ends with an assistant message that calls tools; "
            "send each call's result (a tool message) after it",
            param=f"messages[{last}].tool_calls",
        )
    if last > 0 and messages[last - 1][0] == "assistant":
        raise bad_request(
            f"messages[{last}]: the history ends with more than one assistant message; only the last "
            "answer can be continued (merge them into one)",
            param=f"messages[{last}]",
        )
