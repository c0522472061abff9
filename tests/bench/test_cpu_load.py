"""bench/cpu_load.py: the benchmark's CPU load starts, does what its condition says, and stops."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from cpu_load import CpuLoad, plan  # noqa: E402


def test_plan_of_each_condition():
    assert plan("none", [0, 1]) == []
    assert plan("one-core", [0, 1]) == [{"duty": 1.0, "period": 0.1, "cpu": None}]
    assert plan("half-both", [0, 1]) == [
        {"duty": 0.5, "period": 0.1, "cpu": 0},
        {"duty": 0.5, "period": 0.1, "cpu": 1},
    ]
    with pytest.raises(ValueError, match="one-core"):
        plan("all-cores", [0, 1])


def busy_seconds(procs: list[psutil.Process], wall: float) -> list[float]:
    before = [sum(p.cpu_times()[:2]) for p in procs]
    time.sleep(wall)
    return [sum(p.cpu_times()[:2]) - b for p, b in zip(procs, before)]


def test_one_core_spins_and_stops():
    with CpuLoad("one-core") as load:
        procs = [psutil.Process(p.pid) for p in load.processes]
        time.sleep(0.5)  # past the interpreter's start
        (busy,) = busy_seconds(procs, 1.0)
        assert busy > 0.6, busy
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_half_both_pins_one_half_busy_process_per_cpu():
    with CpuLoad("half-both") as load:
        procs = [psutil.Process(p.pid) for p in load.processes]
        time.sleep(0.5)
        assert sorted(p.cpu_affinity()[0] for p in procs) == sorted(os.sched_getaffinity(0))
        assert all(len(p.cpu_affinity()) == 1 for p in procs)
        for busy in busy_seconds(procs, 2.0):
            assert 0.6 < busy < 1.4, busy  # ~1 s of 2: busy 50 ms of every 100 ms


def test_stopped_on_an_error_inside():
    with pytest.raises(RuntimeError):
        with CpuLoad("one-core") as load:
            procs = [psutil.Process(p.pid) for p in load.processes]
            raise RuntimeError("benchmark failed")
    assert all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in procs)


def test_load_ends_when_its_parent_is_killed():
    """A benchmark killed with SIGKILL runs no finally block: its load processes leave by themselves."""
    code = (
        "import sys, time; sys.path.insert(0, %r)\n"
        "from cpu_load import CpuLoad\n"
        "load = CpuLoad('one-core').start()\n"
        "print(load.processes[0].pid, flush=True)\n"
        "time.sleep(60)\n" % str(ROOT / "bench")
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    worker = psutil.Process(int(parent.stdout.readline()))
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if worker.status() == psutil.STATUS_ZOMBIE:  # exited; init reaps it when it may
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the load process kept spinning after its parent was killed")
