"""docs/EDITORS.md's editor configurations are the files in docs/editors/, verbatim (the editor
tests run those files), and the ones no test can run here at least parse."""

from __future__ import annotations

import json
import re

import pytest
import tomllib
from conftest import EDITORS, ROOT

EDITORS_PAGE = (ROOT / "docs" / "EDITORS.md").read_text(encoding="utf-8")
FENCED = re.findall(r"^```[a-z]*\n(.*?)^```$", EDITORS_PAGE, flags=re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("path", sorted(EDITORS.iterdir()), ids=lambda p: p.name)
def test_the_editors_page_includes_each_configuration_verbatim(path):
    assert path.read_text(encoding="utf-8") in FENCED, f"docs/EDITORS.md lacks {path.name} as a code block"


def _json_with_comments(text: str):
    return json.loads("\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//")))


def test_configurations_without_an_editor_here_parse():
    helix = tomllib.loads((EDITORS / "helix.toml").read_text())
    assert helix["language-server"]["oss-sidecar"]["args"] == ["lsp"]
    sublime = _json_with_comments((EDITORS / "sublime-LSP.sublime-settings").read_text())
    assert sublime["clients"]["oss-sidecar"]["command"] == ["oss-sidecar", "lsp"]
    zed = _json_with_comments((EDITORS / "zed-settings.json").read_text())
    assert zed["language_models"]["openai_compatible"]["oss-sidecar"]["api_url"].endswith("/v1")
    lsp4ij = json.loads((EDITORS / "lsp4ij-initialization-options.json").read_text())
    assert lsp4ij["gatewayUrl"].startswith("http://")
