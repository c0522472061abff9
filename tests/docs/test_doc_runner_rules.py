"""The docs runner's own rules, on small made-up pages (fast; no gateway)."""
from __future__ import annotations

from pathlib import Path

import pytest

from doc_blocks import blocks_of, repo_paths, transcript_steps
from test_doc_blocks import syntax_check
from test_doc_links import anchors, links

PAGE = """# Title

```sh
curl http://127.0.0.1:8000/health
```

<!-- doc-test: no-run: needs a GPU -->
```sh
pip install '.[vllm]'
```

```
$ oss-sidecar config \\
    --port 1
port: 1
```

```
editor --> gateway
```

```vim
set number
```

<!-- doc-test: skip -->
```sh
true
```

- a list item with a block
  ```json
  {"a": 1}
  ```

```sh no-run
bash scripts/test.sh
```
"""


@pytest.fixture
def page(tmp_path) -> list:
    f = tmp_path / "page.md"
    f.write_text(PAGE)
    return blocks_of(f)


def test_actions(page):
    assert [(b.lang, b.action) for b in page] == [
        ("sh", "run-sh"),         # no marker: runs
        ("sh", "check"),          # no-run: syntax only
        ("", "transcript"),       # `$ ` lines: a transcript
        ("", "text"),             # a diagram
        ("vim", "unknown"),       # a new language fails until someone decides
        ("sh", "run-sh"),         # a marker without a reason does not count ...
        ("json", "check"),        # fences inside list items are found
        ("sh", "check"),          # info-string marker
    ]
    assert page[1].reason == "needs a GPU"
    assert "without a reason" in page[5].marker_error  # ... and fails the block


def test_transcript_steps():
    steps = transcript_steps("$ a \\\n  b\nout 1\n\n$ c\n")
    assert steps == [("a \n  b", ["out 1", ""]), ("c", [])]


def test_checks_catch_bad_syntax(tmp_path, page):
    for lang, text in (("json", '{"a": }'), ("yaml", "a: [1, 2"), ("toml", "a = "), ("python", "def f(:"),
                       ("sh", "if then fi")):
        block = page[0]
        block.lang, block.text = lang, text
        with pytest.raises(Exception):
            syntax_check(block, tmp_path)


def test_json_settings_excerpt_parses(tmp_path, page):
    block = page[0]
    block.lang, block.text = "json", '"github.copilot.chat.customOAIModels": {"m": {"url": "x"}}\n'
    syntax_check(block, tmp_path)


def test_named_paths_must_exist(tmp_path, page):
    assert repo_paths("python bench/typing_trace.py --x && bash scripts/test.sh") == \
        ["bench/typing_trace.py", "scripts/test.sh"]
    block = page[1]
    block.text = "python bench/no_such_script.py\n"
    with pytest.raises(AssertionError, match="do not exist"):
        syntax_check(block, tmp_path)
    block.text = "code --install-extension vscode-extension/oss-sidecar-9.9.9.vsix\n"  # a build output
    syntax_check(block, tmp_path)


def test_link_helpers(tmp_path: Path):
    f = tmp_path / "a.md"
    f.write_text("# One `two`: three\n\n## One `two`: three\n\n[x](b.md#y) ![i](p.png) [w](https://e.org)\n")
    assert anchors(f) == {"one-two-three", "one-two-three-1"}
    assert links(f) == ["b.md#y", "p.png", "https://e.org"]
