"""Generated bodies with their output limits cut to 2 tokens: the fuzz runs test input
handling, not the model's speed. Invalid values (negative, non-integer) are left for the
server to refuse. Shared by tests/security/test_fuzz_openapi.py and bench/fuzz_openapi.py."""
from __future__ import annotations

from typing import Any

MAX_TOKENS = 2
_LIMITS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def _capped(holder: dict, key: str) -> None:
    value = holder.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_TOKENS:
        holder[key] = MAX_TOKENS


def shortened(body: Any) -> Any:
    if isinstance(body, dict):
        for key in _LIMITS:
            _capped(body, key)
        options = body.get("options")  # Ollama's num_predict; -1 and -2 mean "no limit"
        if isinstance(options, dict):
            value = options.get("num_predict")
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                options["num_predict"] = MAX_TOKENS
            _capped(options, "num_predict")
    return body
