"""Tools, structured output, logprobs and GET /v1/models/{id} through the official openai SDK
against the real embedded model. Forced tool choice and json_schema are grammar-constrained, so
even this tiny model answers with output that parses, every time."""
from __future__ import annotations

import json

import openai
import pytest
from pydantic import BaseModel, Field

MODEL = "SmolLM2-135M-Instruct.Q4_1"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 24}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a time zone",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string", "maxLength": 24}},
            "required": ["zone"],
            "additionalProperties": False,
        },
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


class City(BaseModel):
    name: str = Field(max_length=24)
    population_millions: int


@pytest.fixture
def client(gateway):
    return openai.AsyncOpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)


async def test_models_retrieve_answers_the_model_or_404(client):
    model = await client.models.retrieve(MODEL)
    assert model.id == MODEL and model.object == "model"
    with pytest.raises(openai.NotFoundError) as err:
        await client.models.retrieve("no-such-model")
    assert err.value.body["code"] == "model_not_found"


async def test_parse_with_a_pydantic_model(client):
    completion = await client.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "Describe Paris as JSON."}],
        response_format=City,
        max_tokens=60,
        temperature=0,
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "stop"
    assert isinstance(message.parsed, City)


async def test_json_object_answers_a_json_object(client):
    reply = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Give me a JSON object with a key a."}],
        response_format={"type": "json_object"},
        max_tokens=40,
        temperature=0,
    )
    if reply.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(reply.choices[0].message.content), dict)
    else:  # cut by the limit: still the start of an object
        assert reply.choices[0].message.content.lstrip().startswith("{")


async def test_invalid_schema_is_a_400_naming_the_field(client):
    with pytest.raises(openai.BadRequestError) as err:
        await client.chat.completions.create(
            model=MODEL,
            messages=ASK,
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nonsense"}}},
            max_tokens=5,
        )
    assert err.value.body["param"] == "response_format.json_schema.schema"
    with pytest.raises(openai.BadRequestError) as err:
        bad = {**WEATHER, "function": {**WEATHER["function"], "parameters": {"type": "object", "required": 3}}}
        await client.chat.completions.create(model=MODEL, messages=ASK, tools=[bad], max_tokens=5)
    assert err.value.body["param"] == "tools[0].function.parameters"


async def test_required_tool_call_round_trip(client):
    first = await client.chat.completions.create(
        model=MODEL, messages=ASK, tools=[WEATHER, TIME], tool_choice="required", max_tokens=40, temperature=0
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name in ("get_weather", "get_time")
    assert isinstance(json.loads(call.function.arguments), dict)
    # The call and its result go back into the history; the model answers in text.
    second = await client.chat.completions.create(
        model=MODEL,
        messages=[
            *ASK,
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "18 degrees, sunny"},
        ],
        tools=[WEATHER, TIME],
        tool_choice="none",
        max_tokens=12,
        temperature=0,
    )
    assert second.choices[0].message.content
    assert not second.choices[0].message.tool_calls


async def test_named_function_is_the_one_called(client):
    reply = await client.chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        max_tokens=40,
        temperature=0,
    )
    (call,) = reply.choices[0].message.tool_calls
    assert call.function.name == "get_time"
    assert set(json.loads(call.function.arguments)) == {"zone"}


async def test_named_function_that_is_not_in_tools_is_a_400(client):
    with pytest.raises(openai.BadRequestError) as err:
        await client.chat.completions.create(
            model=MODEL,
            messages=ASK,
            tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "nope"}},
            max_tokens=5,
        )
    assert err.value.body["param"] == "tool_choice.function.name"


async def test_streamed_tool_call_is_reassembled_by_the_sdk(client):
    async with client.chat.completions.stream(
        model=MODEL,
        messages=ASK,
        tools=[openai.pydantic_function_tool(Weather)],
        tool_choice="required",
        max_tokens=40,
        temperature=0,
    ) as stream:
        deltas = []
        async for event in stream:
            if event.type == "tool_calls.function.arguments.delta":
                deltas.append(event.arguments_delta)
        final = await stream.get_final_completion()
    assert len(deltas) > 1, "arguments should arrive in pieces"
    (call,) = final.choices[0].message.tool_calls
    assert final.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "Weather"
    assert isinstance(call.function.parsed_arguments, Weather)
    assert call.function.arguments == "".join(deltas)


class Weather(BaseModel):
    """Current weather in a city."""

    city: str = Field(max_length=24)


async def test_chat_logprobs_streamed_and_not(client):
    kwargs = dict(model=MODEL, messages=ASK, max_tokens=4, temperature=0, logprobs=True, top_logprobs=2)
    reply = await client.chat.completions.create(**kwargs)
    entries = reply.choices[0].logprobs.content
    assert len(entries) == reply.usage.completion_tokens
    assert "".join(e.token for e in entries) == reply.choices[0].message.content
    for e in entries:
        assert e.logprob <= 0 and len(e.top_logprobs) == 2 and bytes(e.bytes).decode() == e.token
    streamed = []
    async for chunk in await client.chat.completions.create(**kwargs, stream=True):
        for choice in chunk.choices:
            if choice.logprobs is not None:
                streamed.extend(choice.logprobs.content)
    assert [(e.token, e.logprob) for e in streamed] == [(e.token, e.logprob) for e in entries]


async def test_completions_logprobs_legacy_shape(client):
    kwargs = dict(model=MODEL, prompt="def add(a, b):", max_tokens=4, temperature=0, logprobs=2)
    reply = await client.completions.create(**kwargs)
    lp = reply.choices[0].logprobs
    assert "".join(lp.tokens) == reply.choices[0].text
    assert len(lp.token_logprobs) == len(lp.tokens) == len(lp.text_offset) == len(lp.top_logprobs)
    assert lp.text_offset[0] == 0 and all(len(top) == 2 for top in lp.top_logprobs)
    tokens = []
    async for chunk in await client.completions.create(**kwargs, stream=True):
        if chunk.choices and chunk.choices[0].logprobs:
            tokens.extend(chunk.choices[0].logprobs.tokens)
    assert tokens == lp.tokens


async def test_logprobs_without_alternatives_still_give_each_tokens_own(client):
    # logprobs: true with no top_logprobs (chat) and logprobs: 0 (completions) mean the sampled
    # tokens' log probabilities with no alternatives, as OpenAI and vLLM answer them.
    chat = await client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=4, temperature=0, logprobs=True)
    entries = chat.choices[0].logprobs.content
    assert len(entries) == chat.usage.completion_tokens and all(e.top_logprobs == [] for e in entries)
    legacy = await client.completions.create(model=MODEL, prompt="def add(a, b):", max_tokens=4, temperature=0, logprobs=0)
    lp = legacy.choices[0].logprobs
    assert "".join(lp.tokens) == legacy.choices[0].text and len(lp.token_logprobs) == len(lp.tokens) > 0


async def test_unsupported_field_is_a_400_naming_it(client):
    with pytest.raises(openai.BadRequestError) as err:
        await client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=2, logit_bias={"50": 5})
    assert err.value.body["param"] == "logit_bias"
    with pytest.raises(openai.BadRequestError) as err:
        await client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=2, extra_body={"made_up": 1})
    assert err.value.body["param"] == "made_up"
