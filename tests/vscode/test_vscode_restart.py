"""The gateway restarts under a running VS Code: while it is down Ask AI says so and the status
bar shows it unreachable; once a new gateway listens on the same port, "Restart language server"
from the palette brings the status back to ready and Ask AI answers again."""

from __future__ import annotations

import sys
from typing import Iterator

import pytest

from vscode_host import Workbench, free_port, missing, open_workbench

if missing():
    print(f"SKIP tests/vscode: {missing()}", file=sys.stderr)
    pytest.skip(missing(), allow_module_level=True)

PORT = free_port()


@pytest.fixture(scope="module")
def first(start_gateway):
    return start_gateway("--port", str(PORT))


@pytest.fixture(scope="module")
def bench(chromium, first, tmp_path_factory) -> Iterator[Workbench]:
    with open_workbench(chromium, tmp_path_factory.mktemp("vscode-restart"), {"ossSidecar.gatewayUrl": first.url}) as b:
        yield b


def test_restart_language_server_recovers_after_the_gateway_restarts(bench, first, start_gateway):
    answer = bench.ask("What does greet return?")
    assert answer.strip() and "No answer" not in answer, answer

    first.stop()
    answer = bench.ask("Still there?")
    assert "is the gateway running" in answer, answer
    bench.wait_status("gateway unreachable", timeout=60)
    bench.screenshot("13-gateway-stopped")

    second = start_gateway("--port", str(PORT))  # the same URL, a new process
    assert second.url == first.url
    bench.page.keyboard.press("Escape")
    bench.palette("oss-sidecar: Restart language server")
    bench.wait_status(r"^\S* ?oss-sidecar$", timeout=120)  # ready, no "unreachable" left over
    answer = bench.ask("What does add return?")
    assert answer.strip() and "No answer" not in answer, answer
    bench.screenshot("14-restarted")
