"""gpt-oss function calling through harmony: tool definitions render into the developer message
exactly as openai-harmony renders them (token for token), a round trip's calls and results
render as harmony messages, and recorded model outputs parse into tool calls, streamed in any
split — the CPU half of what tests/gpu checks on vLLM."""
from __future__ import annotations

import json

import pytest

from gateway.prompts import harmony

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
DATE = "2026-01-01"
# Recorded gpt-oss answers (harmony text after `<|start|>assistant`).
CALL_AFTER_ANALYSIS = (
    "<|channel|>analysis<|message|>User asks weather; call the tool.<|end|>"
    "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
    '<|message|>{"city":"Paris"}<|call|>'
)
PLAIN_ANSWER = "<|channel|>analysis<|message|>Easy.<|end|><|start|>assistant<|channel|>final<|message|>Hi!<|return|>"


def _reference(enc, messages):
    import openai_harmony as oh

    conv = oh.Conversation.from_messages(messages)
    return list(enc.render_conversation_for_completion(conv, oh.Role.ASSISTANT))


def test_tool_definitions_render_as_harmony_renders_them(enc):
    import openai_harmony as oh

    ours = harmony.render_chat(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],
        start_date=DATE,
    )
    tool = oh.ToolDescription.new(WEATHER["name"], WEATHER["description"], parameters=WEATHER["parameters"])
    reference = _reference(enc, [
        oh.Message.from_role_and_content(oh.Role.SYSTEM, oh.SystemContent.new().with_conversation_start_date(DATE)),
        oh.Message.from_role_and_content(
            oh.Role.DEVELOPER, oh.DeveloperContent.new().with_instructions("Be brief.").with_function_tools([tool])
        ),
        oh.Message.from_role_and_content(oh.Role.USER, "Weather in Paris?"),
    ])
    assert ours == reference
    text = enc.decode(ours)
    assert "namespace functions" in text and "type get_weather" in text


def test_a_round_trip_renders_the_call_and_its_result(enc):
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
    ]
    text = enc.decode(harmony.render_chat(messages, tools=[WEATHER], start_date=DATE))
    assert (
        '<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"city":"Paris"}<|call|>'
        in text
    )
    assert "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>18 C<|end|>" in text
    assert text.endswith("<|start|>assistant")


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_a_recorded_call_parses_into_tool_calls(enc, size):
    tokens = enc.encode(CALL_AFTER_ANALYSIS, allowed_special="all")
    parser = harmony.HarmonyStreamParser(enc)
    text, reasoning, calls = "", "", []
    for i in range(0, len(tokens), size):
        t, r = parser.feed(tokens[i:i + size])
        text, reasoning = text + t, reasoning + r
        calls += parser.take_calls()
    assert text == "" and reasoning == "User asks weather; call the tool."
    assert parser.call_count == 1
    assert calls[0].name == "get_weather" and calls[0].id.startswith("call_") and calls[0].index == 0
    assert json.loads("".join(c.arguments for c in calls)) == {"city": "Paris"}


def test_an_answer_without_a_call_has_no_tool_calls(enc):
    parser = harmony.HarmonyStreamParser(enc)
    text, reasoning = parser.feed(enc.encode(PLAIN_ANSWER, allowed_special="all"))
    assert (text, reasoning, parser.take_calls(), parser.call_count) == ("Hi!", "Easy.", [], 0)


def test_a_prefilled_call_header_leaves_the_model_only_the_arguments(enc):
    header = harmony.call_header("get_weather")
    prompt = harmony.render_chat([{"role": "user", "content": "Weather?"}], tools=[WEATHER], prefill=header)
    assert enc.decode(prompt).endswith("<|start|>assistant" + header)
    parser = harmony.HarmonyStreamParser(enc)
    parser.prime(harmony.prefill_ids(header))
    parser.feed(enc.encode('{"city": "Oslo"}<|call|>', allowed_special="all"))
    calls = parser.take_calls()
    assert calls[0].name == "get_weather"
    assert "".join(c.arguments for c in calls) == '{"city": "Oslo"}'
