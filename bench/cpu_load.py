"""A documented, reproducible CPU load for benchmarks under contention.

Conditions:
- `none`: nothing.
- `one-core`: one process spinning a plain Python loop (`while True: pass`), not pinned: a
  compiler or a busy editor taking one core.
- `half-both`: one process per core (pinned: process i on the i-th CPU this process may use),
  each busy 50 ms then asleep 50 ms, all in phase on a shared clock, so both cores are busy
  for 50 ms, then both free for 50 ms.

    python bench/cpu_load.py one-core        # runs until Ctrl-C or SIGTERM
    python bench/cpu_load.py half-both --period-ms 100 --duty 0.5
    python bench/cpu_load.py half-both --measure 5   # the share of a CPU each process got

From Python: `with CpuLoad("one-core"): ...` starts the processes and stops them at the end,
on errors and on Ctrl-C. Each load process also exits by itself once its parent is gone, so a
killed benchmark leaves nothing spinning.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

CONDITIONS = ("none", "one-core", "half-both")


def _spin(parent: int, duty: float, period: float) -> None:
    """Busy for duty*period of every period (aligned on the monotonic clock), then asleep."""
    on = duty * period
    while os.getppid() == parent:
        if duty >= 1.0:
            end = time.monotonic() + 0.1
            while time.monotonic() < end:  # a plain Python loop; checks its parent 10×/s
                pass
            continue
        now = time.monotonic()
        phase = now % period
        if phase < on:
            end = now - phase + on
            while time.monotonic() < end:
                pass
        else:
            time.sleep(period - phase)


def plan(condition: str, cpus: list[int], period_ms: float = 100.0, duty: float = 0.5) -> list[dict]:
    """The load processes of a condition: their duty cycle, period and CPU (None: not pinned)."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown contention {condition!r}; one of {', '.join(CONDITIONS)}")
    if condition == "none":
        return []
    if condition == "one-core":
        return [{"duty": 1.0, "period": period_ms / 1000, "cpu": None}]
    return [{"duty": duty, "period": period_ms / 1000, "cpu": cpu} for cpu in cpus]


class CpuLoad:
    """Starts a condition's load processes; stops them on exit (also on errors and Ctrl-C)."""

    def __init__(self, condition: str, period_ms: float = 100.0, duty: float = 0.5):
        self.condition = condition
        self.workers = plan(condition, sorted(os.sched_getaffinity(0)), period_ms, duty)
        self.processes: list[subprocess.Popen] = []

    def start(self) -> "CpuLoad":
        for w in self.workers:
            args = [sys.executable, str(Path(__file__).resolve()), "--worker", str(os.getpid()),
                    "--duty", str(w["duty"]), "--period-ms", str(w["period"] * 1000)]
            if w["cpu"] is not None:
                args += ["--cpu", str(w["cpu"])]
            self.processes.append(subprocess.Popen(args, stdin=subprocess.DEVNULL))
        return self

    def stop(self) -> None:
        for p in self.processes:
            if p.poll() is None:
                p.terminate()
        for p in self.processes:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.processes.clear()

    def __enter__(self) -> "CpuLoad":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _cpu_seconds(pid: int) -> float:
    import psutil  # a dependency of the gateway

    return sum(psutil.Process(pid).cpu_times()[:2])


def measure(condition: str, seconds: float, period_ms: float = 100.0, duty: float = 0.5) -> None:
    """What the condition's processes got on this machine now: a share of a CPU each (a test
    only checks that they spin and sleep; what they get depends on the machine's other load)."""
    with CpuLoad(condition, period_ms, duty) as load:
        time.sleep(0.5)  # past the interpreters' start
        before = [_cpu_seconds(p.pid) for p in load.processes]
        time.sleep(seconds)
        after = [_cpu_seconds(p.pid) for p in load.processes]
    shares = [f"{(a - b) / seconds:.0%}" for a, b in zip(after, before)]
    print(f"{condition}: {len(shares)} load process(es), share of a CPU each over {seconds:g} s: "
          f"{', '.join(shares) or '-'} (load average {os.getloadavg()[0]:.1f}; expected "
          f"{'100%' if condition == 'one-core' else f'{duty:.0%}'} on an idle machine)")


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("condition", nargs="?", choices=CONDITIONS, default="one-core")
    parser.add_argument("--period-ms", type=float, default=100.0)
    parser.add_argument("--duty", type=float, default=0.5, help="busy share of each period (half-both)")
    parser.add_argument("--measure", type=float, metavar="SECONDS",
                        help="run this long, then print the share of a CPU each load process got")
    parser.add_argument("--worker", type=int, metavar="PARENT_PID", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.worker is not None:
        if args.cpu is not None:
            os.sched_setaffinity(0, {args.cpu})
        try:
            # The parent's pid comes from the parent: one that died while this process started
            # must not be mistaken for the init process it was handed to.
            _spin(args.worker, args.duty, args.period_ms / 1000)
        except KeyboardInterrupt:
            pass
        return
    if args.measure is not None:
        measure(args.condition, args.measure, args.period_ms, args.duty)
        return
    with CpuLoad(args.condition, args.period_ms, args.duty) as load:
        print(f"{args.condition}: {len(load.processes)} load process(es) "
              f"{[p.pid for p in load.processes]}; Ctrl-C stops them", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
