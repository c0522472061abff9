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


def spins(proc: psutil.Process, cpu_seconds: float = 0.3, timeout: float = 120) -> bool:
    """Whether the process uses CPU (cpu_seconds of it before timeout), however busy the machine:
    how fast it gets them is the machine's business (bench/cpu_load.py --measure reports it)."""
    start = sum(proc.cpu_times()[:2])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(proc.cpu_times()[:2]) - start >= cpu_seconds:
            return True
        time.sleep(0.1)
    return False


def sleeps(proc: psutil.Process, timeout: float = 120) -> bool:
    """Whether the process is seen asleep (a duty cycle below 1 sleeps in every period)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.status() == psutil.STATUS_SLEEPING:
            return True
        time.sleep(0.005)
    return False


def test_one_core_spins_and_stops():
    with CpuLoad("one-core") as load:
        procs = [psutil.Process(p.pid) for p in load.processes]
        assert len(procs) == 1 and spins(procs[0])
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_half_both_pins_one_half_busy_process_per_cpu():
    with CpuLoad("half-both") as load:
        procs = [psutil.Process(p.pid) for p in load.processes]
        assert all(spins(p) for p in procs)  # past the interpreter's start: pinned by now
        assert sorted(p.cpu_affinity()[0] for p in procs) == sorted(os.sched_getaffinity(0))
        assert all(len(p.cpu_affinity()) == 1 for p in procs)
        assert all(sleeps(p) for p in procs)  # busy part of each period, asleep the rest


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
