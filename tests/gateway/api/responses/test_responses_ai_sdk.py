"""The Node AI SDK's OpenAI provider on the Responses API (`openai.responses(...)`) against the
real gateway: the tests are tests/node/responses.test.mjs, installed by scripts/test.sh with
`npm ci`."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parents[3] / "node"
MODEL = "SmolLM2-135M-Instruct.Q4_1"


def test_ai_sdk_responses_text_object_and_a_tool(gateway):
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed: the AI SDK tests need them (Node 20+)")
    if not (NODE_DIR / "node_modules" / "@ai-sdk" / "openai").is_dir():
        pytest.skip("tests/node has no node_modules: run `npm ci --prefix tests/node` (scripts/test.sh does)")
    run = subprocess.run(
        ["node", "--test", "--test-reporter=spec", "responses.test.mjs"],
        cwd=NODE_DIR,
        env={**os.environ, "GATEWAY_URL": gateway.base_url, "GATEWAY_MODEL": MODEL},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
