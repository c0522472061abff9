"""The architecture is checked, not only described: the import rules of pyproject.toml's
[tool.importlinter] hold (handlers never import an engine, engines never import the HTTP
surface, prompts never import engines, the language server never imports the gateway)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    lint = shutil.which("lint-imports")
    assert lint, "import-linter is a dev dependency: pip install -e '.[dev]'"
    # PYTHONPATH: check this checkout's code, whichever checkout the installed package points at.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([lint, "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
