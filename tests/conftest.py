"""Shared fixtures: real gateways (the real embedded model) in subprocesses on loopback."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5, key: Optional[str] = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class RunningGateway:
    """A real `oss-sidecar serve` process."""

    def __init__(self, args: tuple[str, ...], env: Optional[dict] = None, log_dir: Optional[Path] = None):
        self.port = free_port()
        if "--port" in args:
            self.port = int(args[args.index("--port") + 1])
            args = tuple(a for i, a in enumerate(args) if a != "--port" and (i == 0 or args[i - 1] != "--port"))
        # The first --api-key, sent to the operator endpoints (/v1/stats, /metrics need it then).
        self.api_key = args[args.index("--api-key") + 1] if "--api-key" in args else None
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.url + "/v1"
        self.log_path = (log_dir or Path("/tmp")) / f"oss-sidecar-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--port", str(self.port), *args],
            cwd=ROOT,
            # The thread tuner restarts the engine when the machine's load moves, so a test's
            # gateway keeps its count unless the test turns tuning on (test_thread_tuning.py).
            env={"OSS_SIDECAR_LLAMACPP__THREAD_TUNING": "false", **os.environ, **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 120) -> "RunningGateway":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.process.returncode}:\n{self.log()}")
            try:
                status, _ = _get(self.url + "/health", timeout=2)
                if status == 200:
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"gateway not ready after {timeout}s:\n{self.log()}")

    def stats(self) -> dict:
        status, body = _get(self.url + "/v1/stats", key=self.api_key)
        assert status == 200, body
        return json.loads(body)

    def metrics_text(self) -> str:
        return _get(self.url + "/metrics", key=self.api_key)[1].decode()

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="session")
def gateway_log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gateway-logs")


@pytest.fixture(scope="module")
def start_gateway(gateway_log_dir):
    """Starts gateways for one test module; they stop when the module ends (each holds about a
    GiB, so a whole suite's worth at once would not fit in memory)."""
    started: list[RunningGateway] = []

    def start(*args: str, env: Optional[dict] = None, wait: bool = True) -> RunningGateway:
        gw = RunningGateway(tuple(args), env, gateway_log_dir)
        started.append(gw)
        return gw.wait_ready() if wait else gw

    yield start
    for gw in started:
        gw.stop()


@pytest.fixture(scope="session")
def gateway(gateway_log_dir) -> Iterator[RunningGateway]:
    """The shared gateway: the embedded default model, default settings, a free loopback port."""
    gw = RunningGateway((), None, gateway_log_dir)
    try:
        yield gw.wait_ready()
    finally:
        gw.stop()
