"""Tools, structured output and logprobs on vLLM with random weights: what vLLM's structured
outputs must guarantee even from a model that knows nothing — `json_schema` and forced tool calls
give schema-valid JSON — plus logprob shapes, and gpt-oss function calling through harmony (the
prompt is harmony's rendering of the tools token for token; a named call comes back as
`tool_calls`). The schemas are finite (booleans, enums, short strings) so random weights end.
"""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.gpu

openai = pytest.importorskip("openai")
jsonschema = pytest.importorskip("jsonschema")

SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}, "pick": {"enum": ["red", "green"]}},
    "required": ["ok", "pick"],
    "additionalProperties": False,
}
TOOL = {"type": "function", "function": {"name": "choose", "description": "Choose", "parameters": SCHEMA}}
OTHER = {"type": "function", "function": {"name": "flag", "parameters": {
    "type": "object", "properties": {"on": {"type": "boolean"}}, "required": ["on"], "additionalProperties": False}}}
ASK = [{"role": "user", "content": "Pick a colour."}]


def client(srv):
    return openai.OpenAI(base_url=srv.url + "/v1", api_key="none", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def qwen(qwen_server):
    return qwen_server


@pytest.mark.parametrize("stream", [False, True])
def test_json_schema_gives_schema_valid_json(qwen, stream):
    kwargs = dict(model=qwen.model, messages=ASK, max_tokens=64, temperature=1.0,
                  response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": SCHEMA, "strict": True}})
    for seed in range(3):
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in client(qwen).chat.completions.create(
                **kwargs, seed=seed, stream=True) if c.choices)
        else:
            text = client(qwen).chat.completions.create(**kwargs, seed=seed).choices[0].message.content
        jsonschema.validate(json.loads(text), SCHEMA)
        # vllm.structured_outputs' default: no free whitespace (xgrammar writes json.dumps's spacing).
        assert text == json.dumps(json.loads(text))


def test_json_object_gives_a_json_object(qwen):
    r = client(qwen).chat.completions.create(model=qwen.model, messages=ASK, max_tokens=48, temperature=0,
                                             response_format={"type": "json_object"})
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(r.choices[0].message.content), dict)


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "flag"}}])
def test_forced_tool_call_is_schema_valid(qwen, choice):
    r = client(qwen).chat.completions.create(model=qwen.model, messages=ASK, tools=[TOOL, OTHER],
                                             tool_choice=choice, max_tokens=64, temperature=1.0, seed=1)
    (call,) = r.choices[0].message.tool_calls
    assert r.choices[0].finish_reason == "tool_calls"
    tool = {"choose": TOOL, "flag": OTHER}[call.function.name]
    if isinstance(choice, dict):
        assert call.function.name == "flag"
    jsonschema.validate(json.loads(call.function.arguments), tool["function"]["parameters"])


def test_forced_tool_call_streams_as_openai_does(qwen):
    stream = client(qwen).chat.completions.create(model=qwen.model, messages=ASK, tools=[TOOL],
                                                  tool_choice="required", max_tokens=64, stream=True, seed=2)
    first, args, finish = None, [], None
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                if first is None:
                    first = call
                else:
                    args.append(call.function.arguments)
            finish = choice.finish_reason or finish
    assert first.id and first.function.name == "choose" and first.index == 0
    jsonschema.validate(json.loads((first.function.arguments or "") + "".join(args)), SCHEMA)
    assert finish == "tool_calls"


def test_auto_with_the_detected_parser_answers(qwen):
    r = client(qwen).chat.completions.create(model=qwen.model, messages=ASK, tools=[TOOL], max_tokens=16)
    assert r.choices[0].finish_reason in ("stop", "length", "tool_calls")
    assert "hermes" in qwen.tail(400)


def test_logprob_shapes(qwen):
    r = client(qwen).chat.completions.create(model=qwen.model, messages=ASK, max_tokens=5, temperature=0,
                                             logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    assert all(len(e.top_logprobs) == 3 and e.logprob <= 0 for e in content)
    c = client(qwen).completions.create(model=qwen.model, prompt="def f(", max_tokens=5, temperature=0, logprobs=2)
    lp = c.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == 5
