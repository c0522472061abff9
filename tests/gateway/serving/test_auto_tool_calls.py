"""`tool_choice: auto` on the embedded engine, with the real default model, through the serving
core: llama.cpp reads the calls of the Hermes format the shipped template
(gateway/engines/templates/smollm2-tools.jinja) teaches, and once the model opens `<tool_call>` its
lazy grammar holds the call to JSON naming one of the tools. Text before a call streams as text;
the call's own text never reaches the content.

SmolLM2-135M seldom decides to call on its own; a history in which it called the tool before
(with a word of text first) makes it call again, which is what these tests need."""
from __future__ import annotations

import json

import pytest

from gateway.engines.base import SamplingParams, ToolChoice
from gateway.engines.llamacpp.engine import LlamaCppEngine
from gateway.errors import ApiError
from gateway.serving import ChatRequest, Serving
from gateway.settings import load_settings
from gateway.telemetry import Metrics

WEATHER = {"name": "get_weather", "description": "Get the current weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def _history(arguments: str = '{"city": "Paris"}') -> list[dict]:
    return [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": "Let me check the weather.",
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": arguments}}]},
        {"role": "user", "content": "What is the weather in Berlin?"},
    ]


@pytest.fixture(scope="module")
async def serving():
    settings = load_settings(environ={"OSS_SIDECAR_LLAMACPP__N_PARALLEL": "1",
                                      "OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT": "1024"})
    engine = LlamaCppEngine(settings)
    core = Serving(settings, engine, Metrics())
    await engine.start()
    core.status = "ready"
    assert engine.calls_tools  # what Ollama's API advertises as the "tools" capability
    yield core
    await engine.stop()


async def _events(serving, req: ChatRequest, request_id: str) -> list:
    async with serving.chat(req, request_id) as run:
        return [event async for event in run]


async def test_auto_calls_with_the_text_before_the_call_streamed_first(serving):
    req = ChatRequest(_history(), SamplingParams(max_tokens=60, temperature=0), tools=[WEATHER],
                      tool_choice=ToolChoice("auto"))
    events = await _events(serving, req, "auto-1")
    text = "".join(e.text for e in events)
    pieces = [p for e in events for p in e.tool_calls]
    first_call = next(i for i, e in enumerate(events) if e.tool_calls)
    assert all(not e.text for e in events[first_call:])  # text only before the call
    assert text.strip() == "Let me check the weather." and "<tool_call>" not in text
    assert {p.index for p in pieces} == {0} and pieces[0].id and pieces[0].name == "get_weather"
    assert json.loads("".join(p.arguments for p in pieces)) == {"city": "Berlin"}
    assert events[-1].finish_reason == "tool_calls"


async def test_a_call_cut_by_the_output_limit_never_leaks_into_the_text(serving):
    req = ChatRequest(_history(), SamplingParams(max_tokens=12, temperature=0), tools=[WEATHER],
                      tool_choice=ToolChoice("auto"))
    events = await _events(serving, req, "auto-2")
    text = "".join(e.text for e in events)
    assert "<tool_call>" not in text and "get_weather" not in text
    assert events[-1].finish_reason == "length"


async def test_none_keeps_the_model_from_calling(serving):
    req = ChatRequest(_history(), SamplingParams(max_tokens=30, temperature=0), tools=[WEATHER],
                      tool_choice=ToolChoice("none"))
    events = await _events(serving, req, "auto-3")
    assert not any(e.tool_calls for e in events) and events[-1].finish_reason != "tool_calls"


async def test_a_history_call_whose_arguments_are_not_json_is_a_400(serving):
    """llama.cpp parses earlier calls' arguments to render the template; it refuses text that is
    not JSON, which is the client's to fix (it was a 500)."""
    req = ChatRequest(_history("{city: Paris}"), SamplingParams(max_tokens=5), tools=[WEATHER])
    with pytest.raises(ApiError) as info:
        await _events(serving, req, "auto-4")
    assert info.value.status == 400 and info.value.param == "messages"
    assert "not JSON" in info.value.message
