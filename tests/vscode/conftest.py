"""Fixtures for tests/vscode: code-server with the .vsix installed, in Chromium, against a real
gateway. One VS Code window serves the tests against the shared gateway (starting one takes tens
of seconds on a small machine); tests that change settings start their own."""

from __future__ import annotations

from typing import Iterator

import pytest

from vscode_host import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Workbench, open_workbench


def pytest_sessionstart(session):
    """A failure's screenshot from an earlier run must not look like one of this run's."""
    for old in ARTIFACTS.glob("FAILED-*.png"):
        old.unlink()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    benches = [v for v in getattr(item, "funcargs", {}).values() if isinstance(v, Workbench)]
    if report.failed and report.when == "call" and benches:
        try:  # what the window showed when the test failed, next to the other screenshots
            benches[0].screenshot(f"FAILED-{item.name}")
        except Exception:
            pass


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield browser
    finally:
        browser.close()
        pw.stop()


@pytest.fixture(scope="session")
def vscode(chromium, gateway, tmp_path_factory) -> Iterator[Workbench]:
    """VS Code on a project folder, the extension pointed at the shared gateway."""
    with open_workbench(chromium, tmp_path_factory.mktemp("vscode"), {"ossSidecar.gatewayUrl": gateway.url}) as bench:
        yield bench
