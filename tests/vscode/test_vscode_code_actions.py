"""The light bulb's AI actions on a selection, in VS Code's own editor: an edit replaces exactly
the selected lines (Write tests inserts after them) with the file's indentation, one Undo
restores the file, and Explain opens the answer panel instead of editing."""

from __future__ import annotations

import sys

import pytest

from vscode_host import GREETER, missing, wait_for

if missing():
    print(f"SKIP tests/vscode: {missing()}", file=sys.stderr)
    pytest.skip(missing(), allow_module_level=True)

BEFORE = GREETER.splitlines(keepends=True)[:1]  # "class Greeter:"
METHOD = GREETER.splitlines(keepends=True)[1:4]  # the indented method, lines 2-4
AFTER = GREETER.splitlines(keepends=True)[4:]  # the blank lines and the top-level function


def run_action(vscode, title: str) -> None:
    """The light bulb's menu (Ctrl+.) on the selection, then the action's row, as a user picks
    it. Write tests is a source action: VS Code lists those under "Source Action..." (the
    context menu, or the palette), not in the light bulb."""
    vscode.page.locator(".monaco-editor .lightBulbWidget").filter(visible=True).first.wait_for(timeout=30000)
    row = vscode.page.locator(".action-widget .monaco-list-row").filter(has_text=title).first
    for _ in range(5):  # the actions may still be on their way: "No code actions available"
        if title == "AI: Write tests":
            vscode.palette("Source Action...")
        else:
            vscode.page.keyboard.press("Control+.")
        try:
            row.wait_for(timeout=5000)
            break
        except Exception:
            if vscode.page.locator(".action-widget").count():
                vscode.page.keyboard.press("Escape")  # the menu, not the selection
    row.click()


@pytest.mark.parametrize("title, edit", [
    ("AI: Add docstring", "replace"),
    ("AI: Fix", "replace"),
    ("AI: Refactor", "replace"),
    ("AI: Write tests", "insert_after"),
])
def test_an_action_edits_the_selection_with_its_indentation_and_undo_restores(vscode, title, edit):
    name = title.split(": ")[1].replace(" ", "_").lower() + ".py"
    path = vscode.server.folder / name
    path.write_text(GREETER)
    vscode.open_file(name)
    vscode.select_lines(2, 4)
    run_action(vscode, title)

    text = wait_for(lambda: (t := path.read_text()) != GREETER and t, 150, f"{title}'s edit in {name}")
    vscode.screenshot(f"04-action-{name[:-3]}")
    lines = text.splitlines(keepends=True)
    assert lines[: len(BEFORE)] == BEFORE, text
    if edit == "replace":
        assert lines[-len(AFTER):] == AFTER, text
        new = lines[len(BEFORE): -len(AFTER)]
    else:
        assert lines[: len(BEFORE) + len(METHOD)] == BEFORE + METHOD, text
        new = lines[len(BEFORE) + len(METHOD): -len(AFTER)]
    assert new, text
    if edit == "replace":
        # the method stays inside its class: every new line keeps the selection's indentation
        assert all(line.startswith("    ") for line in new if line.strip()), text

    vscode.editor().click()
    vscode.page.keyboard.press("Control+Z")
    wait_for(lambda: path.read_text() == GREETER, 30, "Undo to restore the file")


def test_explain_opens_the_panel_and_leaves_the_file_alone(vscode):
    path = vscode.server.folder / "explain.py"
    path.write_text(GREETER)
    vscode.open_file("explain.py")
    vscode.select_lines(7, 8)
    run_action(vscode, "AI: Explain")
    frame = vscode.webview("Ask AI")
    answer, stop = frame.locator("#answer"), frame.locator("#stop")
    frame.locator("#question").filter(has_text="Explain what this code does.").wait_for(timeout=60000)
    streamed = wait_for(lambda: stop.is_visible() and answer.inner_text().strip(), 240, "the explanation to stream")
    wait_for(lambda: not stop.is_visible(), 240, "the explanation to finish")
    vscode.screenshot("05-explain")
    assert answer.inner_text().startswith(streamed[:20])
    assert path.read_text() == GREETER
    assert vscode.tabs(".md").count() == 0  # in the panel, not in a Markdown file
