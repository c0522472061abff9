"""The ollama npm package (ollama-js) against the real gateway: tests/node-ollama/ollama.test.mjs,
run with node's own test runner. scripts/test.sh installs its pinned packages (npm ci)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FOLDER = Path(__file__).resolve().parents[3] / "node-ollama"
MODEL = "SmolLM2-135M-Instruct.Q4_1"
EMBEDDING_MODEL = "all-MiniLM-L6-v2"


def test_ollama_js(start_gateway):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (Node.js 20+ runs tests/node-ollama)")
    if not (FOLDER / "node_modules" / "ollama").is_dir():
        pytest.skip("tests/node-ollama/node_modules is missing: run `npm ci --prefix tests/node-ollama` (scripts/test.sh does)")
    gw = start_gateway()  # its own gateway: the abort test reads engine counters no one else moves
    proc = subprocess.run(
        [node, "--test", "ollama.test.mjs"],
        cwd=FOLDER,
        env={**os.environ, "OSS_SIDECAR_GATEWAY": gw.url, "OSS_SIDECAR_MODEL": MODEL,
             "OSS_SIDECAR_EMBEDDING_MODEL": EMBEDDING_MODEL},
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "# pass 7" in proc.stdout and "# fail 0" in proc.stdout, proc.stdout[-3000:]
