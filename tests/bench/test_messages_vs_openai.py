"""bench/messages_vs_openai.py against the shared gateway: a pair asks both paths for the same
greedy answer, and both count the same tokens."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from messages_vs_openai import run_pairs  # noqa: E402


async def test_a_pair_measures_both_paths_on_the_same_work(gateway):
    results = await run_pairs(gateway.url, pairs=2, max_tokens=8, concurrency=1)
    assert len(results["openai"]) == len(results["messages"]) == 2
    for name in ("openai", "messages"):
        for r in results[name]:
            assert r["tokens"] == 8 or r["tokens"] == results["openai"][0]["tokens"]
            assert 0 < r["ttft"] <= r["total"]
    assert {r["tokens"] for r in results["openai"]} == {r["tokens"] for r in results["messages"]}
