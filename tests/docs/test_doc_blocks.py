"""Every code block of the README, docs/*.md and the extension's README, run or checked.

Blocks run in document order, in one environment made by the README's quick start (a fresh
virtual environment, `pip install .` of a copy of this tree), against the gateway that quick
start installed. What each kind of block gets is in doc_blocks.py.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from doc_blocks import ROOT, Block, all_blocks, repo_paths, transcript_steps

BLOCKS = all_blocks()

# Neovim's own LuaJIT (works back to 0.7, which has no `nvim -l`): load the file, exit 1 on error.
NVIM_LUA_CHECK = ('lua local f, e = loadfile(os.getenv("DOC_TEST_LUA")); '
                  'if not f then io.stderr:write(e .. "\\n"); vim.cmd("cquit 1") end')


def _lua_checker() -> list[str] | None:
    for name in ("luac5.4", "luac5.3", "luac5.1", "luac"):
        if shutil.which(name):
            return [name, "-p"]
    if shutil.which("nvim"):
        return ["nvim", "--clean", "--headless", "-u", "NONE", "--cmd", NVIM_LUA_CHECK, "-c", "qa!"]
    return None


ELISP_CHECK = ("(with-temp-buffer (insert-file-contents (car command-line-args-left)) "
               "(goto-char (point-min)) (condition-case nil (while t (read (current-buffer))) (end-of-file nil)))")


def _build_output(path: str) -> bool:
    """A path .gitignore names (a .vsix, dist/...): made by a command, not expected in a clone."""
    try:
        return subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT).returncode == 0
    except OSError:
        return False


def syntax_check(block: Block, tmp_path: Path) -> str:
    """Raise AssertionError on bad syntax; return a note (or skip) when no checker is present."""
    lang, text = block.lang, block.text
    if block.is_transcript or lang in ("sh", "bash", "shell", "zsh"):
        script = "\n".join(cmd for cmd, _ in transcript_steps(text)) if block.is_transcript else text
        out = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert out.returncode == 0, f"bash -n: {out.stderr}"
        missing = [p for p in repo_paths(script) if not (ROOT / p).exists() and not _build_output(p)]
        assert not missing, f"paths named in the block do not exist: {missing}"
        return "bash -n, named paths exist"
    if lang in ("python", "py", "python3"):
        compile(text, block.id, "exec")
        return "compiles"
    if lang in ("json", "jsonc"):
        if lang == "jsonc":  # JSON with // comment lines (Sublime's and Zed's settings files)
            text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))
        try:
            json.loads(text)
        except json.JSONDecodeError:
            # A settings.json excerpt: members of the top-level object.
            json.loads("{" + text.strip().rstrip(",") + "}")
        return "parses"
    if lang in ("yaml", "yml"):
        yaml.safe_load(text)
        return "parses"
    if lang == "toml":
        tomllib = pytest.importorskip("tomllib", reason="no TOML parser on Python < 3.11")
        tomllib.loads(text)
        return "parses"
    if lang == "lua":
        checker = _lua_checker()
        if checker is None:
            pytest.skip("no Lua parser here (luac or nvim)")
        f = tmp_path / "block.lua"
        f.write_text(text)
        args = checker if checker[0] == "nvim" else [*checker, str(f)]
        out = subprocess.run(args, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                             env={**os.environ, "DOC_TEST_LUA": str(f)})
        assert out.returncode == 0, f"{checker[0]}: {out.stdout}{out.stderr}"
        return f"parsed by {checker[0]}"
    if lang in ("elisp", "emacs-lisp", "lisp", "el"):
        if not shutil.which("emacs"):
            pytest.skip("no Emacs here to read the Lisp")
        f = tmp_path / "block.el"
        f.write_text(text)
        out = subprocess.run(["emacs", "--batch", "-Q", "--eval", ELISP_CHECK, str(f)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"emacs: {out.stderr}"
        return "read by emacs"
    if lang in ("js", "javascript"):
        if not shutil.which("node"):
            pytest.skip("no Node.js here")
        f = tmp_path / "block.js"
        f.write_text(text)
        out = subprocess.run(["node", "--check", str(f)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"node --check: {out.stderr}"
        return "node --check"
    raise AssertionError(f"no syntax check for {lang!r}")


def _needs_env(block: Block, doc_env) -> None:
    if doc_env.quick_start_error:
        pytest.fail(f"the quick start failed, so this block cannot run:\n{doc_env.quick_start_error}")
    if doc_env.gateway_error:
        pytest.fail(doc_env.gateway_error)


def _show(out: subprocess.CompletedProcess) -> str:
    return f"exit {out.returncode}\n--- stdout\n{out.stdout[-4000:]}\n--- stderr\n{out.stderr[-4000:]}"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_doc_block(block: Block, request, tmp_path):
    if block.marker_error:
        pytest.fail(f"{block.id}: {block.marker_error}")
    action = block.action
    if action == "skip":
        pytest.skip(f"marked skip: {block.reason}")
    if action == "text":
        return  # a diagram or sample output: nothing to run or parse
    if action == "unknown":
        pytest.fail(f"{block.id}: no runner or syntax check for the language {block.lang!r}; add "
                    "<!-- doc-test: no-run: why --> (then it is skipped with the reason) or teach "
                    "tests/docs/doc_blocks.py the language")
    if action == "check":
        syntax_check(block, tmp_path)
        return

    doc_env = request.getfixturevalue("doc_env")
    if block is doc_env.quick_start:
        # Run by the doc_env fixture before anything else: it made the environment.
        assert not doc_env.quick_start_error, doc_env.quick_start_error
        return
    _needs_env(block, doc_env)
    syntax_check(block, tmp_path)
    text = doc_env.rewrite(block.text)
    if action == "run-sh":
        out = doc_env.run(text, "sh")
        assert out.returncode == 0, f"{block.id} failed:\n{text}\n{_show(out)}"
    elif action == "run-python":
        out = doc_env.run(text, "python", python=True, timeout=300)
        assert out.returncode == 0, f"{block.id} failed:\n{_show(out)}"
    elif action == "transcript":
        for cmd, expected in transcript_steps(text):
            out = doc_env.run(cmd, "console", timeout=300)
            got = [ln.rstrip() for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
            want = [ln.rstrip() for ln in expected if ln.strip()]
            assert got == want, f"{block.id}: `$ {cmd}` printed\n" + "\n".join(got) + "\nthe docs say\n" + "\n".join(want)
