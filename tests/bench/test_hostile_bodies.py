"""bench/hostile_bodies.py against the shared gateway: a quiet and a hostile round each measure
the stream's chunk gaps, and every hostile body gets its 400."""
from __future__ import annotations

import sys
from argparse import Namespace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from hostile_bodies import measure, percentile  # noqa: E402


async def test_a_round_measures_gaps_beside_refused_hostile_bodies(gateway):
    args = Namespace(rounds=1, max_tokens=12, enum=4000, escape_kib=64)
    results = (await measure(args, {"shared": gateway.url}))["shared"]
    (quiet,), (hostile,) = results["quiet"], results["hostile"]
    assert 0 < quiet["p50"] <= quiet["p99"] <= quiet["max"]
    assert hostile["answers"] and {status for status, _ in hostile["answers"]} == {400}


def test_percentile_picks_the_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 51.0 and percentile(values, 0.99) == 99.0 and percentile([3.0], 0.99) == 3.0
