"""The Responses API through the official openai SDK (`client.responses.*`) against the real
embedded model: create, stream, parse, a function-tool round trip, previous_response_id with
the store, and the errors."""
from __future__ import annotations

import json
from typing import Literal

import httpx
import openai
import pytest
from pydantic import BaseModel

MODEL = "SmolLM2-135M-Instruct.Q4_1"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 20}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


@pytest.fixture
def client(gateway):
    return openai.AsyncOpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)


async def test_create_answers_a_message_with_usage(client):
    response = await client.responses.create(
        model=MODEL, instructions="Be brief.", input="Say hello.", max_output_tokens=12, temperature=0
    )
    assert response.object == "response" and response.id.startswith("resp_")
    assert response.status in ("completed", "incomplete")
    (message,) = response.output
    assert message.type == "message" and message.role == "assistant"
    assert response.output_text.strip()
    usage = response.usage
    assert usage.input_tokens > 5 and 0 < usage.output_tokens <= 12
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens >= 0


async def test_max_output_tokens_hit_is_incomplete(client):
    response = await client.responses.create(model=MODEL, input="Count to fifty.", max_output_tokens=3)
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage.output_tokens == 3


async def test_stream_events_in_order_with_sequence_numbers(client):
    kwargs = dict(model=MODEL, input="Name three colours.", max_output_tokens=24, temperature=0, top_p=0.9)
    full = await client.responses.create(**kwargs)
    events = [event async for event in await client.responses.create(**kwargs, stream=True)]
    kinds = [e.type for e in events]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert kinds[:5] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added", "response.output_text.delta"]
    last = "response.completed" if full.status == "completed" else "response.incomplete"
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done", last]
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == full.output_text
    assert events[-1].response.output_text == full.output_text
    assert events[-1].response.usage.output_tokens == full.usage.output_tokens


class Greeting(BaseModel):
    greeting: Literal["hi", "hello"]


async def test_responses_stream_helper_collects_the_answer(client):
    # The helper needs response.completed: a schema keeps the answer short enough to complete.
    async with client.responses.stream(
        model=MODEL, input="Greet me.", text_format=Greeting, max_output_tokens=64, temperature=0
    ) as stream:
        deltas = [event.delta async for event in stream if event.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    assert final.status == "completed"
    assert "".join(deltas) == final.output_text
    assert final.output_parsed.greeting in ("hi", "hello")


class City(BaseModel):
    name: str
    country: str


async def test_parse_fills_a_pydantic_model(client):
    response = await client.responses.parse(
        model=MODEL, input="Paris is the capital of France. Extract the city.", text_format=City,
        max_output_tokens=64, temperature=0,
    )
    assert isinstance(response.output_parsed, City)


async def test_json_object_format_answers_json(client):
    response = await client.responses.create(
        model=MODEL, input="Give a JSON object with a key a.", text={"format": {"type": "json_object"}},
        max_output_tokens=32, temperature=0,
    )
    text = response.output_text
    # Constrained to a JSON object; cut by the limit, it is the start of one.
    assert isinstance(json.loads(text), dict) if response.status == "completed" else text.lstrip().startswith("{")


async def test_function_tool_round_trip(client):
    first = await client.responses.create(
        model=MODEL, input="What is the weather in Paris?", tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"}, max_output_tokens=40, temperature=0,
    )
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert isinstance(json.loads(calls[0].arguments)["city"], str)
    second = await client.responses.create(
        model=MODEL,
        input=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {"type": "function_call", "call_id": calls[0].call_id, "name": "get_weather",
             "arguments": calls[0].arguments},
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "18 degrees and sunny"},
        ],
        tools=[WEATHER], tool_choice="none", max_output_tokens=24, temperature=0,
    )
    assert second.output[0].type == "message" and second.output_text.strip()


async def test_streamed_function_call_arguments(client):
    events = [e async for e in await client.responses.create(
        model=MODEL, input="Weather in Rome?", tools=[WEATHER], tool_choice="required", max_output_tokens=40,
        temperature=0, stream=True,
    )]
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    pieces = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert done.arguments == pieces and done.name == "get_weather"
    item = next(e.item for e in events if e.type == "response.output_item.done")
    assert item.type == "function_call" and item.arguments == pieces


async def test_previous_response_id_continues_and_the_store_answers(client):
    first = await client.responses.create(model=MODEL, input="My name is Ada.", max_output_tokens=8)
    second = await client.responses.create(
        model=MODEL, input="What is my name?", previous_response_id=first.id, max_output_tokens=8
    )
    assert second.previous_response_id == first.id
    # The follow-up's prompt holds the first turn too.
    assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens
    fetched = await client.responses.retrieve(first.id)
    assert fetched.id == first.id and fetched.output_text == first.output_text
    await client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError) as err:
        await client.responses.retrieve(first.id)
    assert err.value.body["message"] == f"Response with id '{first.id}' not found."


async def test_store_false_is_not_kept(client):
    response = await client.responses.create(model=MODEL, input="Hi", max_output_tokens=2, store=False)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(response.id)
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(model=MODEL, input="Hi", previous_response_id=response.id)
    assert err.value.body["param"] == "previous_response_id"


async def test_what_agents_send_and_cannot_change_the_answer_is_accepted(gateway):
    """Codex's own fields, and a hosted tool left out and named in a header."""
    body = {
        "model": MODEL, "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
        "tools": [{"type": "web_search", "external_web_access": False}], "tool_choice": "auto",
        "parallel_tool_calls": True, "reasoning": {"summary": "auto"}, "store": False,
        "include": ["reasoning.encrypted_content"], "prompt_cache_key": "k", "client_metadata": {"turn_id": "t"},
        "metadata": {"a": "b"}, "user": "u", "safety_identifier": "s", "service_tier": "auto",
        "truncation": "disabled", "max_output_tokens": 2,
    }
    async with httpx.AsyncClient(timeout=120) as http:
        resp = await http.post(gateway.base_url + "/responses", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-Omitted-Tools"] == "web_search"


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"temprature": 0.2}, "temprature"),
        ({"background": True}, "background"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "data:"}]}]},
         "input[0].content[0].type"),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        ({"tools": [{"type": "custom", "name": "apply_patch"}]}, "tools[0].type"),
        ({"include": ["message.output_text.logprobs"]}, "include"),
        ({"temperature": 3}, "temperature"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.json_schema.schema"),
    ],
)
async def test_unsupported_is_a_400_naming_the_field(client, extra, param):
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(model=MODEL, input="Hi", max_output_tokens=2, extra_body=extra)
    assert err.value.body["param"] == param


async def test_a_prompt_over_the_window_is_context_length_exceeded(client):
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(model=MODEL, input="word " * 9000, max_output_tokens=2)
    assert err.value.code == "context_length_exceeded"
    assert err.value.body["param"] == "input"
