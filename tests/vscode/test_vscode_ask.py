"""Ask AI on a selection, in VS Code: from the palette and from its keybinding, the answer
streams into the side panel, Stop stops the generation on the gateway, a second question reuses
the panel."""

from __future__ import annotations

import re
import sys
import time

import pytest

from vscode_host import missing, wait_for

if missing():
    print(f"SKIP tests/vscode: {missing()}", file=sys.stderr)
    pytest.skip(missing(), allow_module_level=True)


def watch_answer(bench, timeout: float = 240) -> list[tuple[str, bool]]:
    """(answer text, Stop shown) as the panel shows them, until the answer is done."""
    frame = bench.webview("Ask AI")
    answer, stop = frame.locator("#answer"), frame.locator("#stop")
    answer.wait_for(state="attached", timeout=60000)
    seen: list[tuple[str, bool]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text, streaming = answer.inner_text(), stop.is_visible()
        if not seen or seen[-1] != (text, streaming):
            seen.append((text, streaming))
        if text.strip() and not streaming:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"the answer did not finish in {timeout}s: {seen[-3:]}")


def aborted(gateway) -> float:
    match = re.search(r"^oss_sidecar_requests_aborted_total (\S+)$", gateway.metrics_text(), re.M)
    return float(match[1]) if match else 0.0


def test_ask_ai_from_the_palette_streams_into_the_panel(vscode, gateway):
    vscode.open_file("greeter.py")
    vscode.wait_status(r"^\S* ?oss-sidecar$", timeout=120)  # ready: just the name
    vscode.screenshot("01-ready")
    vscode.select_lines(2, 4)
    vscode.palette("oss-sidecar: Ask AI")
    vscode.quick_input().fill("What does greet return?")
    vscode.page.keyboard.press("Enter")

    seen = watch_answer(vscode)
    vscode.screenshot("02-ask-answered")
    final = seen[-1][0]
    assert final.strip(), seen
    # it streamed: part of the answer was on screen while Stop was still offered
    partial = [text for text, streaming in seen if streaming and text.strip()]
    assert partial and len(partial[0]) < len(final), seen[:5]
    frame = vscode.webview("Ask AI")
    assert frame.locator("#question").inner_text() == "What does greet return?"
    assert vscode.tabs("Ask AI").count() == 1


def test_keybinding_asks_again_in_the_same_panel_and_stop_stops(vscode, gateway):
    vscode.open_file("greeter.py")
    vscode.select_lines(7, 8)
    vscode.page.keyboard.press("Control+Alt+A")
    vscode.quick_input().wait_for(timeout=20000)
    vscode.quick_input().fill("Explain")  # a preset's name picks the preset
    vscode.page.keyboard.press("Enter")
    frame = vscode.webview("Ask AI")
    question = frame.locator("#question")
    question.filter(has_text="Explain what this code does.").wait_for(timeout=30000)
    watch_answer(vscode)
    assert vscode.tabs("Ask AI").count() == 1  # reused, not a second panel

    before = aborted(gateway)
    stop, answer, status = frame.locator("#stop"), frame.locator("#answer"), frame.locator("#status")
    for attempt in range(3):  # the small model may finish before a click lands: ask again
        vscode.editor().click()
        vscode.select_lines(7, 8)
        vscode.page.keyboard.press("Control+Alt+A")
        vscode.quick_input().wait_for(timeout=20000)
        long_question = f"Write a very long essay about this function, with many sections. ({attempt})"
        vscode.quick_input().fill(long_question)
        vscode.page.keyboard.press("Enter")
        question.filter(has_text=f"({attempt})").wait_for(timeout=30000)
        # Stop as soon as the first words are on screen
        wait_for(lambda: answer.inner_text().strip() or not stop.is_visible(), 120, "the first words")
        if stop.is_visible():
            stop.click(timeout=5000)
            try:
                status.filter(has_text="Stopped.").wait_for(timeout=30000)
                break
            except Exception:
                pass
        wait_for(lambda: not stop.is_visible(), 240, "the answer to finish")
    else:
        pytest.fail("three answers finished before Stop could be clicked")
    vscode.screenshot("03-ask-stopped")
    assert not stop.is_visible()
    # the gateway stopped generating: its abort counter moved
    wait_for(lambda: aborted(gateway) > before, 30, "the gateway's abort counter to move")
