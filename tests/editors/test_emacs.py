"""Debian's Emacs 28.2 in batch mode with docs/EDITORS.md's eglot (1.9) and lsp-mode (8.0)
configurations: attach, run `AI: Write tests` on a selection end to end (the buffer changes),
with the clients' default settings — no timeout, no unknown-notification warning; an action on
a method's lines (the answer stays inside the class); and complete
at point after Enter on an indented line (the suggestion on that line, no empty line first)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import require, snippet

DRIVER = Path(__file__).with_name("emacs_driver.el")
CODE = "def mul(a, b):\n    return a * b\nx = mul(2, 3)\n"
# Enter at the end of the last line: the test model answers "\n        return message\n..."
FRESH = "class Greeter:\n    def hello(self, name):\n        message = 'Hello ' + name\n"
# "AI: Fix" on the method's two lines: the test model answers with the code dedented
METHOD = "class Greeter:\n    def hello(self, name):\n        return 'Hello ' + name\n\n\ng = Greeter()\n"
INCOMPLETE = "the inserted code is incomplete: the answer was cut at the token limit"
# what Emacs does at startup for installed packages (Debian's elpa-* are packages)
PACKAGES = "(progn (require 'package) (package-initialize))"
CLIENTS = [("eglot", "eglot.el"), ("lsp-mode", "lsp-mode.el")]


def run_emacs(client, init, gateway, editor_env, tmp_path, code, **env) -> tuple[dict, str]:
    """Emacs with the docs' configuration and the driver on ``demo.py`` holding ``code``:
    (the driver's result, everything the user would have seen)."""
    emacs = require("emacs", "emacs-nox elpa-eglot elpa-lsp-mode")
    found = subprocess.run(
        [emacs, "--batch", "--eval", PACKAGES, "--eval", f'(princ (or (locate-library "{client}") ""))'],
        capture_output=True, text=True, timeout=60, check=False,
    ).stdout.strip()
    if not found:
        pytest.skip(f"Emacs has no {client} (Debian: apt-get install elpa-{client}; scripts/test.sh does it as root)")
    config = tmp_path / "init.el"
    config.write_text(snippet(init, gateway.url))
    project = tmp_path / "project"
    project.mkdir()
    source = project / "demo.py"
    source.write_text(code)
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [emacs, "--batch", "--eval", PACKAGES, "-l", str(config), "-l", str(DRIVER)],
        cwd=project,
        env={**editor_env, "OSS_CLIENT": client, "OSS_FILE": str(source), "OSS_RESULT": str(out), **env},
        capture_output=True,
        text=True,
        timeout=200,
        check=False,  # the result file says what happened
    )
    output = proc.stdout + proc.stderr
    assert out.exists(), f"no result from Emacs (exit {proc.returncode}):\n{output[-3000:]}"
    result = json.loads(out.read_text())
    seen = output + result["messages"]
    assert "error" not in result, f"{result['error']}\n{seen[-3000:]}\n{result['logs'][-3000:]}"
    assert result["attached"], seen[-3000:]
    return result, seen


@pytest.mark.parametrize("client, init", CLIENTS)
def test_emacs_runs_an_action_end_to_end(client, init, gateway, editor_env, tmp_path):
    result, seen = run_emacs(
        client, init, gateway, editor_env, tmp_path, CODE,
        OSS_ACTION="AI: Write tests", OSS_CHAT_MAX_TOKENS="24", OSS_EXPECT_MESSAGE=INCOMPLETE,
    )
    assert result["titles"] == ["AI: Explain", "AI: Fix", "AI: Refactor", "AI: Add docstring", "AI: Write tests"]
    assert result["edited"], f"{seen[-3000:]}\n{result['logs'][-3000:]}"
    # the tests went in after the two selected lines; the rest is untouched
    after = result["after"]
    assert after.startswith("def mul(a, b):\n    return a * b\n") and after.endswith("\nx = mul(2, 3)\n")
    assert len(after) > len(CODE)
    assert "unknown notification" not in seen.lower()
    assert "timeout" not in seen.lower() and "timed out" not in seen.lower()
    # 24 tokens cut the test model's tests mid-block: inserted, and the user is told
    assert INCOMPLETE in seen, seen[-3000:]
    if client == "eglot":  # eglot asks before applying a server's edit; the driver said yes
        assert any("wants to edit" in p for p in result["prompts"])


@pytest.mark.parametrize("client, init", CLIENTS)
def test_emacs_action_keeps_a_method_in_its_class(client, init, gateway, editor_env, tmp_path):
    result, seen = run_emacs(
        client, init, gateway, editor_env, tmp_path, METHOD,
        OSS_ACTION="AI: Fix", OSS_CHAT_MAX_TOKENS="48", OSS_SELECT_FROM="2",
    )
    assert result["edited"], f"{seen[-3000:]}\n{result['logs'][-3000:]}"
    lines = result["after"].split("\n")
    assert lines[0] == "class Greeter:" and lines[-2:] == ["g = Greeter()", ""], lines
    body = lines[1 : lines.index("g = Greeter()")]
    assert all(line.startswith("    ") for line in body if line.strip()), lines


@pytest.mark.parametrize("client, init", CLIENTS)
def test_emacs_completes_a_fresh_indented_line(client, init, gateway, editor_env, tmp_path):
    result, seen = run_emacs(client, init, gateway, editor_env, tmp_path, FRESH, OSS_COMPLETE="1")
    assert result["completed"], f"{seen[-3000:]}\n{result['logs'][-3000:]}"
    lines = result["after"].split("\n")
    # the three lines, then the suggestion at the editor's indentation: no whitespace-only line
    assert lines[:3] == FRESH.split("\n")[:3], lines
    assert lines[3].startswith("        ") and lines[3].strip(), lines
