"""gpt-oss through the agents' APIs on a real GPU: OpenAI's Responses API and Anthropic's Messages
API over the same vLLM engine as chat (the 4-layer gpt-oss folder of conftest, random weights).

Random weights write no harmony headers, so what is checked is the plumbing each API adds: the
reasoning effort reaches harmony's rendering (the prompt's token count is harmony's, token for
token), a forced function call comes back as the API's own call item with arguments that fit the
schema, streams end with the API's closing event, and reasoning never leaks into the text. The
channels themselves (reasoning items, thinking blocks from the analysis channel) are covered on
the CPU by the harmony parser's tests and the wire modules' tests.
"""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.gpu

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
jsonschema = pytest.importorskip("jsonschema")
pytest.importorskip("openai_harmony")

SYSTEM = "You answer in one line."
ASK = "Pick a colour for the button."
SCHEMA = {"type": "object", "properties": {"colour": {"type": "string", "enum": ["red", "green", "blue"]}},
          "required": ["colour"], "additionalProperties": False}


@pytest.fixture(scope="module")
def srv(gptoss_server):
    return gptoss_server


def responses_client(srv):
    return openai.OpenAI(base_url=srv.url + "/v1", api_key="none", max_retries=0, timeout=120)


def messages_client(srv):
    return anthropic.Anthropic(base_url=srv.url, api_key="none", max_retries=0, timeout=120)


def harmony_len(effort: str, **kwargs) -> int:
    from gateway.prompts import harmony

    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": ASK}]
    return len(harmony.render_chat(messages, reasoning_effort=effort, **kwargs))


@pytest.mark.parametrize("effort", ["low", "high"])
def test_responses_effort_is_harmonys_rendering(srv, effort):
    r = responses_client(srv).responses.create(
        model=srv.model, instructions=SYSTEM, input=ASK, max_output_tokens=24, temperature=0,
        reasoning={"effort": effort})
    assert r.usage.input_tokens == harmony_len(effort)
    assert 1 <= r.usage.output_tokens <= 24
    assert r.status in ("completed", "incomplete")
    kinds = {item.type for item in r.output}
    assert kinds <= {"message", "reasoning"}, kinds


def test_responses_forced_function_call_fits_its_schema(srv):
    tool = {"type": "function", "name": "choose", "description": "Choose a colour.", "parameters": SCHEMA}
    r = responses_client(srv).responses.create(
        model=srv.model, instructions=SYSTEM, input=ASK, tools=[tool], max_output_tokens=48, temperature=0,
        tool_choice={"type": "function", "name": "choose"}, reasoning={"effort": "low"})
    calls = [item for item in r.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "choose", r.output
    jsonschema.validate(json.loads(calls[0].arguments), SCHEMA)


def test_responses_stream_ends_completed_with_usage(srv):
    events = list(responses_client(srv).responses.create(
        model=srv.model, instructions=SYSTEM, input=ASK, max_output_tokens=32, temperature=0.7,
        reasoning={"effort": "medium"}, stream=True))
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] in ("response.completed", "response.incomplete"), types
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].response.usage.input_tokens == harmony_len("medium")


@pytest.mark.parametrize("effort", ["low", "high"])
def test_messages_effort_is_harmonys_rendering(srv, effort):
    m = messages_client(srv).messages.create(
        model=srv.model, system=SYSTEM, messages=[{"role": "user", "content": ASK}], max_tokens=24,
        thinking={"type": "enabled", "budget_tokens": 1024},
        extra_body={"output_config": {"effort": effort}})
    # Anthropic's input_tokens leaves out what the prompt cache read.
    assert m.usage.input_tokens + (m.usage.cache_read_input_tokens or 0) == harmony_len(effort)
    assert 1 <= m.usage.output_tokens <= 24
    assert {block.type for block in m.content} <= {"text", "thinking"}
    assert m.stop_reason in ("end_turn", "max_tokens")


def test_messages_forced_tool_use_fits_its_schema(srv):
    m = messages_client(srv).messages.create(
        model=srv.model, system=SYSTEM, messages=[{"role": "user", "content": ASK}], max_tokens=48,
        extra_body={"temperature": 0},  # anthropic 2.x takes sampling fields only as extra body
        tools=[{"name": "choose", "description": "Choose a colour.", "input_schema": SCHEMA}],
        tool_choice={"type": "tool", "name": "choose"})
    uses = [block for block in m.content if block.type == "tool_use"]
    assert len(uses) == 1 and uses[0].name == "choose" and m.stop_reason == "tool_use", m.content
    jsonschema.validate(uses[0].input, SCHEMA)


def test_messages_stream_ends_with_message_stop(srv):
    with messages_client(srv).messages.stream(
            model=srv.model, system=SYSTEM, messages=[{"role": "user", "content": ASK}], max_tokens=32,
            thinking={"type": "enabled", "budget_tokens": 2048}) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    assert events[0] == "message_start" and events[-1] == "message_stop", events
    assert final.usage.output_tokens >= 1
