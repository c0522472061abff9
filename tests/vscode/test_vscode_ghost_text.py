"""Ghost text in VS Code: typing in a Python file shows an inline suggestion, Tab accepts it,
Escape dismisses it, the toggle command turns it off and on, and typing fast sends no burst of
requests to the gateway."""

from __future__ import annotations

import re
import sys
import time

import pytest

from vscode_host import missing, wait_for

if missing():
    print(f"SKIP tests/vscode: {missing()}", file=sys.stderr)
    pytest.skip(missing(), allow_module_level=True)

START = "def add(a, b):\n"
GHOST = ".monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text-decoration-preview, .monaco-editor .ghost-text"


def requests_total(gateway) -> float:
    return sum(float(v) for v in re.findall(r"^oss_sidecar_requests_total\{[^}]*\} (\S+)$", gateway.metrics_text(), re.M))


def ghost(vscode):
    return vscode.page.locator(GHOST)


def type_line(vscode, text: str, delay_ms: float = 60) -> None:
    vscode.page.keyboard.type(text, delay=delay_ms)


def fresh_file(vscode, name: str):
    """A function's first line, the cursor at its end: Enter starts its indented body, where a
    suggestion comes (typing a word would open VS Code's word suggestions, and ghost text then
    only shows what extends the word picked there)."""
    path = vscode.server.folder / name
    path.write_text(START)
    vscode.open_file(name)
    vscode.go_to(1, 1)
    vscode.page.keyboard.press("End")
    return path


def test_ghost_text_shows_and_tab_accepts_it(vscode, gateway):
    path = fresh_file(vscode, "ghost_tab.py")
    vscode.page.keyboard.press("Enter")
    wait_for(lambda: ghost(vscode).count() > 0, 120, "a ghost-text suggestion")
    shown = ghost(vscode).first.inner_text()
    vscode.screenshot("06-ghost-text")
    vscode.page.keyboard.press("Tab")
    wait_for(lambda: ghost(vscode).count() == 0, 10, "the suggestion to be accepted")
    body = wait_for(lambda: path.read_text()[len(START):].strip(), 30, "the accepted text on disk")
    assert path.read_text().startswith(START + "    "), path.read_text()
    assert body.split()[0] in shown, (shown, body)


def test_escape_dismisses_and_the_toggle_turns_it_off_and_on(vscode, gateway):
    path = fresh_file(vscode, "ghost_escape.py")
    vscode.page.keyboard.press("Enter")
    wait_for(lambda: ghost(vscode).count() > 0, 120, "a ghost-text suggestion")
    vscode.page.keyboard.press("Escape")
    wait_for(lambda: ghost(vscode).count() == 0, 10, "Escape to dismiss it")
    time.sleep(0.5)
    assert path.read_text().strip() == START.strip()

    vscode.palette("oss-sidecar: Toggle ghost-text completion")
    vscode.wait_status("ghost text off", timeout=30)
    vscode.screenshot("07-ghost-off")
    before = requests_total(gateway)
    vscode.editor().click()
    vscode.go_to(1, 1)
    vscode.page.keyboard.press("End")
    vscode.page.keyboard.press("Enter")
    time.sleep(3)  # debounce and a model's answer, had one been asked for
    assert ghost(vscode).count() == 0
    assert requests_total(gateway) == before, "ghost text off must send no request"

    vscode.palette("oss-sidecar: Toggle ghost-text completion")
    vscode.wait_status(r"^(?!.*ghost text off).*oss-sidecar", timeout=30)
    vscode.editor().click()
    vscode.go_to(1, 1)
    vscode.page.keyboard.press("End")
    vscode.page.keyboard.press("Enter")
    wait_for(lambda: ghost(vscode).count() > 0, 120, "ghost text back on")


def test_typing_fast_sends_no_burst_of_requests(vscode, gateway):
    fresh_file(vscode, "ghost_fast.py")
    vscode.page.keyboard.press("Enter")
    time.sleep(3)  # the suggestion for the empty line has been asked for
    before = requests_total(gateway)
    typed = "total = a + b  # the sum of both numbers"
    type_line(vscode, typed, delay_ms=20)  # faster than the 150 ms debounce
    time.sleep(3)
    sent = requests_total(gateway) - before
    # one request after the last keystroke (a model probe at most besides), not one per key
    assert sent <= 4, f"{sent} requests for {len(typed)} keystrokes"
