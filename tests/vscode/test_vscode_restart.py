"""The gateway restarts under a running VS Code: while it is down Ask AI says so and the status
bar shows it unreachable; once a new gateway listens on the same port, "Restart language server"
from the palette brings the status back to ready and Ask AI answers again."""

from __future__ import annotations

import sys
from typing import Iterator

import pytest

from vscode_host import Workbench, free_port, missing, open_workbench, wait_for

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


def ask(bench, question: str) -> str:
    bench.open_file("greeter.py")
    bench.select_lines(2, 4)
    bench.palette("oss-sidecar: Ask AI")
    bench.quick_input().fill(question)
    bench.page.keyboard.press("Enter")
    frame = bench.webview("Ask AI")
    frame.locator("#question").filter(has_text=question).wait_for(timeout=60000)
    stop = frame.locator("#stop")
    wait_for(lambda: not stop.is_visible(), 240, "the answer to finish")
    return frame.locator("#answer").inner_text() + "\n" + frame.locator("#status").inner_text()


def test_restart_language_server_recovers_after_the_gateway_restarts(bench, first, start_gateway):
    answer = ask(bench, "What does greet return?")
    assert answer.strip() and "No answer" not in answer, answer

    first.stop()
    answer = ask(bench, "Still there?")
    assert "is the gateway running" in answer, answer
    bench.wait_status("gateway unreachable", timeout=60)
    bench.screenshot("13-gateway-stopped")

    second = start_gateway("--port", str(PORT))  # the same URL, a new process
    assert second.url == first.url
    bench.page.keyboard.press("Escape")
    bench.palette("oss-sidecar: Restart language server")
    bench.wait_status(r"^\S* ?oss-sidecar$", timeout=120)  # ready, no "unreachable" left over
    answer = ask(bench, "What does add return?")
    assert answer.strip() and "No answer" not in answer, answer
    bench.screenshot("14-restarted")
