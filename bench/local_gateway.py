"""A gateway of this checkout started for a benchmark: `oss-sidecar serve` on a free loopback
port, its output in a log file, returned once /health answers; and the percentile the
benchmarks' tables print."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gateway(log: Path, env: Optional[dict[str, str]] = None,
                  timeout: float = 180) -> tuple[subprocess.Popen, str]:
    """The gateway process and its URL; `env` replaces this process's environment."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
                            cwd=ROOT, env=env if env is not None else dict(os.environ),
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the gateway exited with {proc.returncode} (log: {log})")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit(f"the gateway was not ready in {timeout:g} s (log: {log})")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
