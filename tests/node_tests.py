"""Runs a Node test file (`node --test`) against a running gateway, for the Python tests that
drive client libraries written in JavaScript (tests/node*/, installed by scripts/test.sh with
`npm ci`). Skips where Node or the folder's packages are not installed."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
MODEL = "SmolLM2-135M-Instruct.Q4_1"


def run_node_tests(folder: str, test_file: str, base_url: str, package: str = "") -> None:
    """`node --test tests/<folder>/<test_file>` with GATEWAY_URL and GATEWAY_MODEL set; `package`
    (under node_modules) is the one whose absence means `npm ci` has not run there."""
    node_dir = TESTS / folder
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed: the AI SDK tests need them (Node 20+)")
    if not (node_dir / "node_modules" / package).is_dir():
        pytest.skip(f"tests/{folder} has no node_modules: run `npm ci --prefix tests/{folder}` (scripts/test.sh does)")
    run = subprocess.run(
        ["node", "--test", "--test-reporter=spec", test_file],
        cwd=node_dir,
        env={**os.environ, "GATEWAY_URL": base_url, "GATEWAY_MODEL": MODEL},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
