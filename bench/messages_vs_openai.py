"""The Messages API path's added latency against the OpenAI path: one gateway, one model, the same
load, side by side.

Both paths get the same chat (`/v1/chat/completions` and `/v1/messages`, both streamed), so the
difference is what each wire module adds: decoding, Anthropic's content-block events against
chat chunks. How the pairs run and what is reported: bench/wire_latency.py.

    python bench/messages_vs_openai.py [--pairs 50] [--max-tokens 32] [--concurrency 1] [--url URL]

Without --url it starts its own gateway (the embedded default model). Run it on a quiet machine:
the difference being measured is far smaller than the noise of a busy one.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wire_latency import MESSAGES, SAMPLING, Wire, chat_wire, main  # noqa: E402


def read_messages_event(raw: bytes) -> tuple[bool, int | None]:
    if not raw.startswith(b"data: "):
        return False, None
    event = json.loads(raw[6:])
    if event["type"] == "message_delta":
        return False, event["usage"]["output_tokens"]
    return event["type"] == "content_block_delta" and bool(event["delta"].get("text")), None


ANTHROPIC_MESSAGES = Wire("messages", "Messages", "/v1/messages",
                          lambda model, max_tokens: {"model": model, "messages": MESSAGES, "max_tokens": max_tokens,
                                                     **SAMPLING, "stream": True},
                          read_messages_event, headers={"anthropic-version": "2023-06-01"})
WIRES = (chat_wire(MESSAGES), ANTHROPIC_MESSAGES)

if __name__ == "__main__":
    main(__doc__, WIRES, "bench-messages-vs-openai")
