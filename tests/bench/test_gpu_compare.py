"""bench/gpu_compare.py's server handling, without a GPU: a run killed by SIGTERM stops the servers
it started in their own sessions, and a port a leftover server holds is refused before a start."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import gpu_compare  # noqa: E402

# A benchmark in miniature: a "server" in a session of its own, stopped in `finally`.
RUN = f"""
import subprocess, sys, time
sys.path.insert(0, {str(BENCH)!r})
import gpu_compare
gpu_compare.stop_servers_on_sigterm()
server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
print(server.pid, flush=True)
try:
    time.sleep(120)
finally:
    gpu_compare.stop(server)
"""


def test_sigterm_stops_the_servers_of_the_run():
    run = subprocess.Popen([sys.executable, "-c", RUN], stdout=subprocess.PIPE, text=True)
    server_pid = int(run.stdout.readline())
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(server_pid, signal.SIGKILL)
    pytest.fail("the server outlived the run that started it")


def test_a_taken_port_is_refused_before_a_server_starts():
    with socket.socket() as leftover:
        leftover.bind(("127.0.0.1", 0))
        leftover.listen()
        with pytest.raises(SystemExit, match="is taken"):
            gpu_compare.require_free_port(leftover.getsockname()[1])
