"""gpt-oss function calling through harmony on vLLM with random weights (apart from the Qwen
tests of test_vllm_tools.py: each module's server holds most of the GPU while it lives)."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.gpu

jsonschema = pytest.importorskip("jsonschema")

from .test_vllm_tools import ASK, SCHEMA, TOOL, client  # noqa: E402  (the same cases as the Qwen tests)


@pytest.fixture(scope="module")
def gptoss(gptoss_server):
    return gptoss_server


def test_gptoss_tool_prompt_is_harmonys_rendering(gptoss):
    from gateway.prompts import harmony

    r = client(gptoss).chat.completions.create(
        model=gptoss.model, messages=ASK, tools=[TOOL], max_tokens=48, temperature=0,
        tool_choice={"type": "function", "function": {"name": "choose"}})
    expected = harmony.render_chat(ASK, tools=[TOOL["function"]], prefill=harmony.call_header("choose"))
    assert r.usage.prompt_tokens == len(expected)
    (call,) = r.choices[0].message.tool_calls
    assert call.function.name == "choose" and r.choices[0].finish_reason == "tool_calls"
    jsonschema.validate(json.loads(call.function.arguments), SCHEMA)


def test_gptoss_structured_output_is_the_final_text(gptoss):
    r = client(gptoss).chat.completions.create(
        model=gptoss.model, messages=ASK, max_tokens=48, temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": SCHEMA}})
    jsonschema.validate(json.loads(r.choices[0].message.content), SCHEMA)
