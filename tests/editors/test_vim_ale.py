"""Debian's Vim 9 with ALE 3.3 (vim-ale) and docs/EDITORS.md's configuration: ALE lists the
actions, but its LSP client takes no ``workspace/applyEdit`` and shows only Error-level messages;
picking an action tells the user, at that level, that nothing was changed (before, it did
nothing at all, silently)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import require, snippet, terminal

DRIVER = Path(__file__).with_name("vim_ale_driver.vim")
CODE = "def mul(a, b):\n    return a * b\nx = mul(2, 3)\n"
ALE = Path("/usr/share/vim/vimfiles/pack/dist-bundle/opt/ale")


def test_vim_ale_is_told_that_nothing_was_changed(gateway, editor_env, tmp_path):
    vim = require("vim", "vim vim-ale")
    if not ALE.exists():
        pytest.skip("ALE is not installed (Debian: apt-get install vim-ale)")
    vimrc = tmp_path / "vimrc"
    vimrc.write_text(snippet("vim-ale.vim", gateway.url))
    source = tmp_path / "demo.py"
    source.write_text(CODE)
    out = tmp_path / "result.json"
    secondary = terminal()  # Vim wants a terminal to draw on
    try:
        proc = subprocess.run(
            [vim, "-N", "-u", str(vimrc), "-i", "NONE", "-n", "-S", str(DRIVER), str(source)],
            cwd=tmp_path,
            env={**editor_env, "OSS_RESULT": str(out), "OSS_ACTION": "AI: Refactor", "TERM": "xterm", "OSS_WAIT_LIST": os.environ.get("OSS_WAIT_LIST", "60")},
            stdin=secondary, stdout=secondary, stderr=secondary,
            timeout=240,
            check=False,
        )
    finally:
        os.close(secondary)
    assert out.exists(), f"no result from Vim (exit {proc.returncode})"
    result = json.loads(out.read_text())
    assert "error" not in result, result
    assert result["listed"] and "AI: Refactor" in result["menu"], result
    assert result["told"], result
    (shown,) = result["shown"]
    assert "Error" in shown and "AI: Refactor: nothing was changed" in shown, shown
    assert result["after"] == result["before"]
