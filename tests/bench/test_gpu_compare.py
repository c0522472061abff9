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

import psutil
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import gpu_compare  # noqa: E402

# A benchmark in miniature: a "server" in a session of its own, stopped in `finally`. Its pid is
# printed inside `try`, so a SIGTERM sent once it is read always finds the `finally` armed.
RUN = f"""
import subprocess, sys, time
sys.path.insert(0, {str(BENCH)!r})
import gpu_compare
gpu_compare.stop_servers_on_sigterm()
server = None
try:
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    print(server.pid, flush=True)
    time.sleep(600)
finally:
    if server is not None:
        gpu_compare.stop(server)
"""


def _gone(pid: int, wait_s: float = 0) -> bool:
    """Exited, waiting up to wait_s for it (a zombie not yet reaped by whoever inherited it
    counts as exited)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def test_sigterm_stops_the_servers_of_the_run():
    run = subprocess.Popen([sys.executable, "-c", RUN], stdout=subprocess.PIPE, text=True)
    server_pid = int(run.stdout.readline())
    try:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=120)  # bounds a hang, measures nothing
        # stop() waited for the server, or killed it (SIGKILL) when it would not go: gone either way.
        assert _gone(server_pid, wait_s=60), "the server outlived the run that started it"
    finally:
        if not _gone(server_pid):
            os.killpg(server_pid, signal.SIGKILL)


def test_a_taken_port_is_refused_before_a_server_starts():
    with socket.socket() as leftover:
        leftover.bind(("127.0.0.1", 0))
        leftover.listen()
        with pytest.raises(SystemExit, match="is taken"):
            gpu_compare.require_free_port(leftover.getsockname()[1])
