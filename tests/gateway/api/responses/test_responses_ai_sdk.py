"""The Node AI SDK's OpenAI provider on the Responses API (`openai.responses(...)`) against the
real gateway: the tests are tests/node/responses.test.mjs, installed by scripts/test.sh with
`npm ci`."""
from __future__ import annotations

from node_tests import run_node_tests


def test_ai_sdk_responses_text_object_and_a_tool(gateway):
    run_node_tests("node", "responses.test.mjs", gateway.base_url, "@ai-sdk/openai")
