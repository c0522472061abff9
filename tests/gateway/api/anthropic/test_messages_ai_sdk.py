"""The Node AI SDK (`ai` with `@ai-sdk/anthropic`) against the real gateway's Messages API: the
tests are tests/node-anthropic/*.test.mjs, installed by scripts/test.sh with `npm ci`."""
from __future__ import annotations

from node_tests import run_node_tests


def test_ai_sdk_anthropic_generates_text_and_streams_a_tool_call(gateway):
    run_node_tests("node-anthropic", "ai-sdk-anthropic.test.mjs", gateway.base_url, "@ai-sdk/anthropic")
