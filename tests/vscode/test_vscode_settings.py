"""The status bar, the gateway URL and the API key, in VS Code: a gateway that is down shows as
unreachable; pointing ossSidecar.gatewayUrl at a running one works without reloading the window;
a gateway behind --api-key refuses until "Set gateway API key" stores the key in VS Code's
secret storage, and a wrong key gets a message that says the gateway refused it."""

from __future__ import annotations

import sys
import time
from typing import Iterator

import pytest

from vscode_host import Workbench, dead_url, missing, open_workbench, wait_for

if missing():
    print(f"SKIP tests/vscode: {missing()}", file=sys.stderr)
    pytest.skip(missing(), allow_module_level=True)

KEY = "vscode-test-key-0123456789"


@pytest.fixture(scope="module")
def keyed(start_gateway):
    return start_gateway("--api-key", KEY)


@pytest.fixture(scope="module")
def down(chromium, tmp_path_factory) -> Iterator[Workbench]:
    """VS Code whose extension points at a loopback port where nothing listens."""
    base = tmp_path_factory.mktemp("vscode-settings")
    with open_workbench(chromium, base, {"ossSidecar.gatewayUrl": dead_url()}) as bench:
        yield bench


def notifications(bench) -> str:
    return " | ".join(bench.page.locator(".notification-toast").all_inner_texts())


def test_a_gateway_that_is_down_shows_as_unreachable(down):
    down.wait_status("gateway unreachable", timeout=120)
    wait_for(lambda: "unreachable" in notifications(down), 30, "the notification")
    down.screenshot("08-unreachable")
    assert "oss-sidecar serve" in notifications(down)  # it says how to fix it


def test_changing_the_gateway_url_works_without_a_reload(down, gateway):
    down.set_setting("ossSidecar.gatewayUrl", gateway.url)  # no reload after it
    answer = down.ask("What does greet return?")
    assert answer.strip() and "No answer" not in answer, answer
    down.wait_status(r"^\S* ?oss-sidecar$", timeout=60)
    down.screenshot("09-url-changed")


def test_api_key_set_through_the_palette(down, keyed):
    down.page.keyboard.press("Escape")
    down.set_setting("ossSidecar.gatewayUrl", keyed.url)
    answer = down.ask("Is a key needed?")
    assert "refused the API key" in answer, answer
    wait_for(lambda: "401" in notifications(down), 30, "a message that the gateway refused the request")
    down.wait_status("API key refused", timeout=30)  # not "unreachable": it answered
    down.screenshot("10-key-missing")

    down.palette("oss-sidecar: Set gateway API key")
    box = down.quick_input()
    box.wait_for(timeout=20000)
    box.fill(KEY)
    down.page.keyboard.press("Enter")
    time.sleep(1)
    answer = down.ask("What does greet do?")
    assert answer.strip() and "No answer" not in answer, answer
    down.screenshot("11-key-set")


def test_a_wrong_api_key_says_so(down, keyed):
    down.palette("oss-sidecar: Set gateway API key")
    down.quick_input().wait_for(timeout=20000)
    down.quick_input().fill("not-the-key")
    down.page.keyboard.press("Enter")
    time.sleep(1)
    for toast in down.page.locator(".notification-toast .codicon-notifications-clear").all():
        toast.click()
    answer = down.ask("And now?")
    # the panel says the key was refused, not "is the gateway running?"
    assert "refused the API key" in answer and "gateway running" not in answer, answer
    wait_for(lambda: "401" in notifications(down), 30, "a message that the gateway refused the key")
    down.wait_status("API key refused", timeout=30)
    down.screenshot("12-key-wrong")
