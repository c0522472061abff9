"""bench/event_loop_cpu.py against the shared gateway (a process of its own): a round streams
at each concurrency and reads the CPU time of the gateway's event-loop thread."""
from __future__ import annotations

import sys
from argparse import Namespace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from event_loop_cpu import main_thread_cpu, measure  # noqa: E402


async def test_a_round_measures_the_gateways_event_loop(gateway):
    pid = gateway.process.pid
    args = Namespace(rounds=1, streams=[1, 2], max_tokens=16)
    results = await measure(args, {"shared": (pid, gateway.url)})
    assert set(results) == {("shared", 1), ("shared", 2)}
    for rows in results.values():
        (ms_per_chunk, chunks_per_s), = rows
        assert ms_per_chunk >= 0 and chunks_per_s > 0
    assert main_thread_cpu(pid) > 0  # the gateway's own thread: it parsed, loaded and served
