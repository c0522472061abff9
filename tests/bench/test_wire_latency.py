"""The "wire against chat completions" latency benchmarks (bench/wire_latency.py and the scripts
that name its wires) against the shared gateway: a pair asks both paths for the same greedy
answer, and both count the same tokens."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import messages_vs_openai  # noqa: E402
import ollama_vs_openai  # noqa: E402
import responses_vs_chat  # noqa: E402
from wire_latency import run_pairs  # noqa: E402


@pytest.mark.parametrize("script", [ollama_vs_openai, responses_vs_chat, messages_vs_openai],
                         ids=lambda m: m.__name__)
async def test_a_pair_measures_both_paths_on_the_same_work(gateway, script):
    base, other = (wire.name for wire in script.WIRES)
    results = await run_pairs(gateway.url, script.WIRES, pairs=2, max_tokens=8, concurrency=1)
    assert len(results[base]) == len(results[other]) == 2
    for name in (base, other):
        for r in results[name]:
            assert r["tokens"] == 8 or r["tokens"] == results[base][0]["tokens"]
            assert 0 < r["ttft"] <= r["total"]
    assert {r["tokens"] for r in results[base]} == {r["tokens"] for r in results[other]}
