"""The Node AI SDK (`ai` with `@ai-sdk/openai-compatible`) against the real gateway: the tests
are tests/node/ai-sdk.test.mjs, installed by scripts/test.sh with `npm ci`."""
from __future__ import annotations

import pytest

from node_tests import run_node_tests


def test_ai_sdk_generate_object_and_stream_text_with_a_tool(gateway):
    run_node_tests("node", "ai-sdk.test.mjs", gateway.base_url)


def test_generate_object_as_docs_clients_md_writes_it(gateway):
    """docs/CLIENTS.md's AI SDK block, run as written (the base URL pointed at this gateway)."""
    import json
    import re
    import shutil
    import subprocess
    from pathlib import Path

    node_dir = Path(__file__).resolve().parents[3] / "node"
    if shutil.which("node") is None or not (node_dir / "node_modules" / "ai").is_dir():
        pytest.skip("needs Node.js and `npm ci --prefix tests/node`")
    docs = (node_dir.parent.parent / "docs" / "CLIENTS.md").read_text()
    section = docs.split("## Vercel AI SDK", 1)[1]
    block = re.search(r"```js\n(.*?)```", section, re.S).group(1)
    assert "supportsStructuredOutputs: true" in block
    script = node_dir / f".clients-md-{gateway.port}.mjs"  # beside node_modules, so imports resolve
    script.write_text(block.replace("http://127.0.0.1:8000/v1", gateway.base_url)
                      .replace("console.log(object);", "console.log(JSON.stringify(object));"))
    try:
        run = subprocess.run(["node", script.name], cwd=node_dir, capture_output=True, text=True, timeout=240)
    finally:
        script.unlink()
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert isinstance(answer["city"], str) and isinstance(answer["country"], str)
