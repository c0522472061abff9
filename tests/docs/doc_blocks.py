"""The fenced code blocks of the user docs, and what the docs runner does with each.

Collected with markdown-it-py (the CommonMark parser, so fences inside list items count too).
A block runs unless an HTML comment right above it says otherwise:

    <!-- doc-test: no-run: why it cannot run here -->    syntax-checked only
    <!-- doc-test: skip: why -->                          neither run nor checked

Without a marker, by info string:

    sh, bash, shell, zsh        run with bash (errexit, pipefail) against the real gateway
    python, py                  run with the quick start's Python against the real gateway
    console, shell-session,     a transcript: each `$ command` is run, the lines below it are the
    or no language with `$ `    expected output
    json, yaml, toml, lua,      parsed (lua with luac or Neovim, elisp with Emacs, js with Node,
    elisp, js                   where they are installed)
    text, or no language        nothing to check (diagrams, sample output)

Any other language fails, naming the marker to add: a new block is never silently ignored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[2]

SHELL = {"sh", "bash", "shell", "zsh"}
PYTHON = {"python", "py", "python3"}
CONSOLE = {"console", "shell-session", "sh-session"}
TEXT = {"text", "txt", "plain", "plaintext", "none"}
PARSED = {"json", "jsonc", "yaml", "yml", "toml", "lua", "elisp", "emacs-lisp", "lisp", "el",
          "js", "javascript"}

MARKER = re.compile(r"<!--\s*doc-test:\s*([a-z-]+)\s*(?::\s*(.*?))?\s*-->", re.S)
MARKER_KINDS = {"no-run", "skip"}


def doc_files() -> list[Path]:
    """The user docs: the README, docs/*.md, the extension's README."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    ext = ROOT / "vscode-extension" / "README.md"
    if ext.exists():
        files.append(ext)
    return files


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    info: str
    text: str
    marker: Optional[str] = None  # "no-run" | "skip" | None
    reason: str = ""
    marker_error: str = ""

    @property
    def rel(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    @property
    def id(self) -> str:
        return f"{self.rel}:{self.line}:{self.lang or 'plain'}"

    @property
    def is_transcript(self) -> bool:
        if self.lang in CONSOLE:
            return True
        return self.lang == "" and any(ln.startswith("$ ") for ln in self.text.splitlines())

    @property
    def action(self) -> str:
        """run-sh | run-python | transcript | check | text | skip | unknown"""
        if self.marker == "skip":
            return "skip"
        if self.is_transcript:
            return "check" if self.marker == "no-run" else "transcript"
        if self.lang in SHELL:
            return "check" if self.marker == "no-run" else "run-sh"
        if self.lang in PYTHON:
            return "check" if self.marker == "no-run" else "run-python"
        if self.lang in PARSED:
            return "check"
        if self.lang in TEXT or self.lang == "":
            return "text"
        return "unknown"


_md = MarkdownIt("commonmark")


def blocks_of(path: Path) -> list[Block]:
    tokens = _md.parse(path.read_text(encoding="utf-8"))
    out: list[Block] = []
    for i, tok in enumerate(tokens):
        if tok.type != "fence":
            continue
        info = tok.info.strip()
        lang = info.split()[0].lower() if info else ""
        block = Block(path=path, line=tok.map[0] + 1, lang=lang, info=info, text=tok.content)
        prev = tokens[i - 1] if i else None
        if prev is not None and prev.type == "html_block":
            m = MARKER.search(prev.content)
            if m:
                kind, reason = m.group(1), (m.group(2) or "").strip()
                if kind not in MARKER_KINDS:
                    block.marker_error = f"unknown doc-test marker {kind!r} (use no-run or skip)"
                elif not reason:
                    block.marker_error = f"doc-test marker {kind!r} without a reason"
                else:
                    block.marker, block.reason = kind, reason
        # An info-string word works too: ```sh no-run
        for word in info.split()[1:]:
            if word in MARKER_KINDS and block.marker is None:
                block.marker, block.reason = word, "marked in the info string"
        out.append(block)
    return out


def all_blocks() -> list[Block]:
    return [b for f in doc_files() for b in blocks_of(f)]


# --- transcripts -----------------------------------------------------------------------------

def transcript_steps(text: str) -> list[tuple[str, list[str]]]:
    """`$ command` lines (with backslash continuations) and the output lines below each."""
    steps: list[tuple[str, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("$ "):
            cmd = ln[2:]
            while cmd.endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd = cmd[:-1] + "\n" + lines[i]
            steps.append((cmd, []))
        elif steps:
            steps[-1][1].append(ln)
        i += 1
    return steps


# --- paths a block names ------------------------------------------------------------------------

_REPO_PATH = re.compile(r"(?<![\w/.~-])((?:scripts|bench|tests|config|docs|vscode-extension|gateway|lsp)/[\w./-]*\w)")


def repo_paths(text: str) -> list[str]:
    """Paths inside this repository that a command names (they must exist)."""
    return sorted(set(_REPO_PATH.findall(text)))
