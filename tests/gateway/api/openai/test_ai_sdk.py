"""The Node AI SDK (`ai` with `@ai-sdk/openai-compatible`) against the real gateway: the tests
are tests/node/ai-sdk.test.mjs, installed by scripts/test.sh with `npm ci`."""
from __future__ import annotations

from node_tests import run_node_tests


def test_ai_sdk_generate_object_and_stream_text_with_a_tool(gateway):
    run_node_tests("node", "ai-sdk.test.mjs", gateway.base_url)
