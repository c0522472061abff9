"""The Responses API's added latency against chat completions: one gateway, one model, the same
load, side by side.

Both paths get the same conversation (a system and a user message on `/v1/chat/completions`,
`instructions` and `input` on `/v1/responses`, both streamed), so the difference is what each
wire module adds: decoding the input items, the event sequence with its sequence numbers,
encoding per token. How the pairs run and what is reported: bench/wire_latency.py.

    python bench/responses_vs_chat.py [--pairs 50] [--max-tokens 32] [--concurrency 1] [--url URL]

Without --url it starts its own gateway (the embedded default model).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wire_latency import SAMPLING, Wire, chat_wire, main  # noqa: E402

SYSTEM = "You are a storyteller."
PROMPT = "Write a short story about a lighthouse keeper and a storm."


def read_responses_event(raw: bytes) -> tuple[bool, int | None]:
    line = raw.decode().strip()
    if not line.startswith("data: "):
        return False, None
    if '"response.output_text.delta"' in line:
        return True, None
    if '"response.completed"' in line or '"response.incomplete"' in line:
        return False, json.loads(line[6:])["response"]["usage"]["output_tokens"]
    return False, None


RESPONSES = Wire("responses", "responses", "/v1/responses",
                 lambda model, max_tokens: {"model": model, "instructions": SYSTEM, "input": PROMPT,
                                            "max_output_tokens": max_tokens, "stream": True, **SAMPLING},
                 read_responses_event)
WIRES = (chat_wire([{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}], "chat", "chat"),
         RESPONSES)

if __name__ == "__main__":
    main(__doc__, WIRES, "bench-responses-vs-chat")
