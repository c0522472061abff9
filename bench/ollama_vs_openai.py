"""The Ollama path's added latency against the OpenAI path: one gateway, one model, the same
load, side by side.

Both paths get the same chat (`/v1/chat/completions` with server-sent events, `/api/chat` with
NDJSON lines), so the difference is what each wire module adds: decoding, the framing, encoding
per token. How the pairs run and what is reported: bench/wire_latency.py.

    python bench/ollama_vs_openai.py [--pairs 50] [--max-tokens 32] [--concurrency 1] [--url URL]

Without --url it starts its own gateway (the embedded default model). Run it on a quiet machine:
the difference being measured is far smaller than the noise of a busy one.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wire_latency import MESSAGES, SAMPLING, Wire, chat_wire, main  # noqa: E402


def read_ndjson_line(raw: bytes) -> tuple[bool, int | None]:
    if not raw.strip():
        return False, None
    line = json.loads(raw)
    if line.get("done"):
        return False, line["eval_count"]
    return bool(line["message"]["content"]), None


OLLAMA = Wire("ollama", "Ollama", "/api/chat",
              lambda model, max_tokens: {"model": model, "messages": MESSAGES, "stream": True,
                                         "options": {"num_predict": max_tokens, **SAMPLING}},
              read_ndjson_line)
WIRES = (chat_wire(MESSAGES), OLLAMA)

if __name__ == "__main__":
    main(__doc__, WIRES, "bench-ollama-vs-openai")
