"""Links between the docs resolve: relative files exist, #anchors name a heading of the target
(GitHub's heading ids). Web links are not fetched; the invented repository URL must not return."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest
from markdown_it import MarkdownIt

from doc_blocks import ROOT, doc_files

_md = MarkdownIt("commonmark")


def github_slug(text: str) -> str:
    """GitHub's heading id: lower case, punctuation except - and _ dropped, spaces to -."""
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _inline_text(token) -> str:
    return "".join(c.content for c in (token.children or []) if c.type in ("text", "code_inline", "html_inline"))


def anchors(path: Path) -> set[str]:
    tokens = _md.parse(path.read_text(encoding="utf-8"))
    seen: Counter = Counter()
    out = set()
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            slug = github_slug(_inline_text(tokens[i + 1]))
            out.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
            seen[slug] += 1
    return out


def links(path: Path) -> list[str]:
    hrefs = []

    def walk(tokens):
        for tok in tokens:
            if tok.type == "link_open":
                hrefs.append(tok.attrGet("href"))
            elif tok.type == "image":
                hrefs.append(tok.attrGet("src"))
            if tok.children:
                walk(tok.children)

    walk(_md.parse(path.read_text(encoding="utf-8")))
    return hrefs


def _is_external(href: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", href, re.I))


DOCS = doc_files()


@pytest.mark.parametrize("path", DOCS, ids=[p.relative_to(ROOT).as_posix() for p in DOCS])
def test_links_resolve(path: Path):
    broken = []
    for href in links(path):
        if not href or _is_external(href):
            continue
        target, _, anchor = href.partition("#")
        dest = (path.parent / unquote(target)).resolve() if target else path
        if not dest.exists():
            broken.append(f"{href}: no such file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
            continue
        if not dest.is_relative_to(ROOT):
            broken.append(f"{href}: outside the repository")
            continue
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{href}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{path.relative_to(ROOT)}: broken links:\n" + "\n".join(broken)


def test_slugs_follow_github():
    assert github_slug("Language server (`oss-sidecar lsp`, stdio or `--tcp HOST:PORT`)") == \
        "language-server-oss-sidecar-lsp-stdio-or---tcp-hostport"
    assert github_slug("vLLM: the gateway against vLLM's own server") == "vllm-the-gateway-against-vllms-own-server"


def test_no_invented_repository_url():
    """There is no public repository yet: nothing may point at one."""
    files = [*DOCS, ROOT / "pyproject.toml", ROOT / "vscode-extension" / "package.json",
             *sorted((ROOT / "vscode-extension" / "src").glob("*.ts"))]
    hits = [f.relative_to(ROOT).as_posix() for f in files
            if f.exists() and "github.com/oss-sidecar" in f.read_text(encoding="utf-8")]
    assert not hits, f"links to a repository that does not exist: {hits}"
