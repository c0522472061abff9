"""Debian's Neovim (0.7.2), headless, with docs/EDITORS.md's Neovim 0.7–0.9 configuration:
attach, no code actions on a bare cursor, the code actions on a linewise selection, the docstring action applied (the buffer is
exactly the edit plus the untouched rest: no stray line), and an AI item through
``textDocument/completion`` (omnifunc) accepted into the line, then one after Enter on an
indented line (on that line, no empty line before it)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import neovim, snippet

DRIVER = Path(__file__).with_name("nvim_driver.lua")
CODE = "def mul(a, b):\n    return a * b\nx = mul(2, 3)\n"
# Enter at the end of the last line: the test model answers "\n        return message\n..."
FRESH = "class Greeter:\n    def hello(self, name):\n        message = 'Hello ' + name\n"
# "AI: Fix" on the method's two lines: the test model answers with the code dedented
METHOD = "class Greeter:\n    def hello(self, name):\n        return 'Hello ' + name\n\n\ng = Greeter()\n"


def test_neovim_actions_and_completion(gateway, editor_env, tmp_path):
    nvim = neovim((0, 7), (0, 10), "Debian: apt-get install neovim; scripts/test.sh does it as root")
    init = tmp_path / "init.lua"
    init.write_text(snippet("neovim.lua", gateway.url))
    source = tmp_path / "demo.py"
    source.write_text(CODE)
    fresh = tmp_path / "greeter.py"
    fresh.write_text(FRESH)
    method = tmp_path / "greeter_method.py"
    method.write_text(METHOD)
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [nvim, "--headless", "-u", str(init), "-i", "NONE", str(source), "-c", f"luafile {DRIVER}"],
        cwd=tmp_path,
        env={**editor_env, "OSS_RESULT": str(out), "OSS_CHAT_MAX_TOKENS": "48", "OSS_FRESH_FILE": str(fresh),
             "OSS_METHOD_FILE": str(method), "OSS_METHOD_ACTION": "AI: Fix"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,  # the result file says what happened
    )
    assert out.exists(), f"no result from Neovim (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    result = json.loads(out.read_text())
    assert result["errors"] == [], result["errors"]
    assert result["attached"]
    assert result["completion_provider"]  # Neovim 0.7 has no inline completion

    # a cursor without diagnostics: nothing offered (docs/LSP.md)
    assert result["cursor_actions"] == 0 and result["cursor_message"], result["messages"]
    assert result["titles"] == ["AI: Explain", "AI: Fix", "AI: Refactor", "AI: Add docstring", "AI: Write tests"]
    assert result["edited"], result["messages"]
    edits = [e for changes in result["action_edit"].get("changes", {}).values() for e in changes]
    edits += [e for dc in result["action_edit"].get("documentChanges", []) for e in dc["edits"]]
    (edit,) = edits
    # exactly the two selected lines (V sends the end one past the line: clamped)
    assert edit["range"] == {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": len("    return a * b")}}
    assert result["after_action"] == edit["newText"].split("\n") + ["x = mul(2, 3)"]

    assert result["completion_shown"], result["messages"]
    assert result["completion_item"]["menu"] == "oss-sidecar (AI)"
    word = result["completion_item"]["word"]
    assert word.startswith("mu") and len(word) > 2
    # accepted: the typed "mu" became the item's text, the ")" after the cursor stayed
    assert result["completed_line"] == f"print({word})"

    # Enter, then the suggestion: on the new line at the editor's indentation, no empty line first
    assert result["fresh_shown"], result["messages"]
    before, after = result["fresh_before"], result["fresh_after"]
    assert after[:3] == before[:3] and len(after) == len(before) + 1, after
    assert after[3].startswith("        ") and after[3].strip(), after

    # an action on a method: the answer at the method's indentation, the class intact
    assert result["method_edited"], result["messages"]
    after = result["method_after"]
    assert after[0] == "class Greeter:" and after[-1] == "g = Greeter()", after
    body = after[1 : after.index("g = Greeter()")]
    assert all(line.startswith("    ") for line in body if line.strip()), after
