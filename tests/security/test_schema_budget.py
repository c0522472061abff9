"""No single request's JSON Schema stalls the others: a schema past the server's budget
(server.max_schema_bytes, server.max_schema_values) is a 400 naming its field on every wire
format, before any engine builds a grammar from it — an enum of 4,000 values once held every
stream of the embedded engine for 31 s, one of 50,000 for more than 20 minutes."""
from __future__ import annotations

import asyncio

import httpx
import ollama
import pytest
from openai import AsyncOpenAI, BadRequestError

MODEL = "SmolLM2-135M-Instruct.Q4_1"
USER = [{"role": "user", "content": "Pick one."}]


def _enum(n: int) -> dict:
    return {"type": "object", "properties": {"x": {"enum": [f"v{i}" for i in range(n)]}}, "required": ["x"]}


async def test_a_4000_value_enum_is_refused_while_another_clients_request_is_served(gateway):
    client = AsyncOpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    big = asyncio.create_task(client.chat.completions.create(
        model=MODEL, messages=USER, max_tokens=16,
        response_format={"type": "json_schema", "json_schema": {"name": "pick", "schema": _enum(4000)}}))
    small = asyncio.create_task(client.chat.completions.create(model=MODEL, messages=USER, max_tokens=1))
    # The enum request never reaches the engine: it is refused before any grammar is built.
    with pytest.raises(BadRequestError) as info:
        await big
    assert info.value.body["param"] == "response_format.json_schema.schema"
    assert "server.max_schema_values" in info.value.body["message"]
    assert (await small).choices[0].finish_reason == "length"
    await client.close()


async def test_tool_parameters_and_ollama_format_are_bounded_alike(gateway):
    client = AsyncOpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    with pytest.raises(BadRequestError) as info:
        await client.chat.completions.create(
            model=MODEL, messages=USER, max_tokens=1,
            tools=[{"type": "function", "function": {"name": "pick", "parameters": _enum(4000)}}])
    assert info.value.body["param"] == "tools[0].function.parameters"
    await client.close()
    with pytest.raises(ollama.ResponseError) as caught:
        await ollama.AsyncClient(host=gateway.url).chat(model=MODEL, messages=USER, format=_enum(4000))
    assert caught.value.status_code == 400 and caught.value.error.startswith("format: ")


async def test_one_requests_schemas_are_counted_together(gateway):
    """Each tool within the budget, all of them past it: the tool that went over is named."""
    tools = [{"type": "function", "function": {"name": f"pick{i}", "parameters": _enum(150)}} for i in range(4)]
    client = AsyncOpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    with pytest.raises(BadRequestError) as info:
        await client.chat.completions.create(model=MODEL, messages=USER, max_tokens=1, tools=tools)
    assert info.value.body["param"] == "tools[3].function.parameters", info.value.body
    await client.close()


def test_a_schema_past_the_byte_budget_is_400_naming_the_setting(gateway):
    schema = {"type": "object", "properties": {"x": {"type": "string", "description": "d" * 40_000}}}
    answer = httpx.post(gateway.url + "/api/generate", json={"model": MODEL, "prompt": "hi", "format": schema},
                        timeout=60)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith("format: ") and "server.max_schema_bytes" in answer.json()["error"]


async def test_a_schema_within_the_budget_is_served_beside_another_stream(gateway):
    client = AsyncOpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    constrained = client.chat.completions.create(
        model=MODEL, messages=USER, max_tokens=24, temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "pick", "schema": _enum(300)}})
    plain = client.chat.completions.create(model=MODEL, messages=USER, max_tokens=4, temperature=0)
    answer, other = await asyncio.gather(constrained, plain)
    assert answer.choices[0].message.content.lstrip().startswith("{")
    assert other.choices[0].finish_reason in ("length", "stop") and other.usage.completion_tokens <= 4
    await client.close()
