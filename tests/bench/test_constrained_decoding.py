"""bench/constrained_decoding.py against the shared gateway: both loads of a round produce the
same amount of text (every answer runs to max_tokens), which is what makes their tokens/s
comparable."""
from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from constrained_decoding import round_  # noqa: E402


async def test_both_loads_run_every_answer_to_max_tokens(gateway):
    with urllib.request.urlopen(gateway.url + "/v1/models", timeout=10) as resp:
        model = json.load(resp)["data"][0]["id"]
    plain = await round_(gateway.url, model, 2, 24, constrained=False)
    constrained = await round_(gateway.url, model, 2, 24, constrained=True)
    assert plain.tokens_per_stream == constrained.tokens_per_stream == 24
    assert plain.decode_rate > 0 and constrained.decode_rate > 0
