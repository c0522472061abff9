"""The status bar while the gateway starts: VS Code is open first, then the gateway starts on the
URL it is set to; the status bar goes to ready, with the model's name in its tooltip and
accessible label. The "model loading" state in between is shown when the extension's poll of
/v1/stats (every 2 s until ready) meets it, but SmolLM2 loads in well under a second here, so the
test records what it saw rather than requiring it (the transitions are unit-tested in
vscode-extension/test/status.test.ts)."""

from __future__ import annotations

import sys
import time
import urllib.request
from typing import Iterator

import pytest

from vscode_host import Workbench, free_port, missing, open_workbench, wait_for

if missing():
    print(f"SKIP tests/vscode: {missing()}", file=sys.stderr)
    pytest.skip(missing(), allow_module_level=True)

PORT = free_port()


@pytest.fixture(scope="module")
def bench(chromium, tmp_path_factory) -> Iterator[Workbench]:
    url = f"http://127.0.0.1:{PORT}"  # nothing there yet
    with open_workbench(chromium, tmp_path_factory.mktemp("vscode-status"), {"ossSidecar.gatewayUrl": url}) as b:
        yield b


def healthy(gw) -> bool:
    try:
        with urllib.request.urlopen(gw.url + "/health", timeout=2):
            return True
    except OSError:
        return False


def spoken(bench) -> str:
    """What a screen reader says for the status item (its aria-label)."""
    item = bench.status_item()
    labels = item.evaluate(
        "el => [el, ...el.querySelectorAll('[aria-label]')].map(e => e.getAttribute('aria-label') || '').join(' | ')"
    )
    return labels


def test_status_bar_shows_loading_then_ready_with_the_model(bench, start_gateway):
    gw = start_gateway("--port", str(PORT), wait=False)
    seen = set()
    deadline = time.monotonic() + 180
    while not healthy(gw) and time.monotonic() < deadline:
        text = bench.status_text()
        if "model loading" in text and text not in seen:
            bench.screenshot("17-gateway-loading")
        seen.add(text)
    gw.wait_ready()
    print("status bar texts seen while the gateway started:", sorted(seen))
    bench.wait_status(r"^\S* ?oss-sidecar$", timeout=60)
    model = gw.stats()["model"]
    wait_for(lambda: f"model {model}" in spoken(bench), 60, f"the model's name ({model}) in the status item")
    bench.status_item().hover()
    bench.page.locator(".monaco-hover, .workbench-hover").filter(has_text=f"Model: {model}").first.wait_for(timeout=20000)
    bench.screenshot("18-gateway-ready")
