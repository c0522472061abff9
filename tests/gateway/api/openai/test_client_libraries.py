"""Structured output and tools through client libraries written by others — instructor and
LangChain's ChatOpenAI — against the real gateway and its embedded model."""
from __future__ import annotations

import json

import instructor
from instructor.core.exceptions import InstructorRetryException
import openai
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

MODEL = "SmolLM2-135M-Instruct.Q4_1"
QUESTION = "Paris is the capital of France and has about 2 million people. Extract the city."
JSON_HINT = ' Answer in JSON like {"name": "...", "country": "..."}.'


class City(BaseModel):
    """A city and its country."""

    name: str = Field(max_length=24)
    country: str = Field(max_length=24)


class CityName(BaseModel):
    # Bounded: an unbounded string lets a tiny model write until the output limit cuts the call.
    city: str = Field(max_length=24)


@tool(args_schema=CityName)
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"18 degrees and sunny in {city}"


@pytest.fixture
def chat_model(gateway):
    return ChatOpenAI(
        model=MODEL, base_url=gateway.base_url, api_key="unused", temperature=0, max_tokens=96, max_retries=0
    )


def _instructor(gateway, mode):
    return instructor.from_openai(
        openai.AsyncOpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0), mode=mode
    )


@pytest.mark.parametrize("mode", [instructor.Mode.TOOLS, instructor.Mode.JSON_SCHEMA])
async def test_instructor_returns_a_validated_object(gateway, mode):
    city = await _instructor(gateway, mode).chat.completions.create(
        model=MODEL,
        response_model=City,
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=96,
        temperature=0,
        max_retries=0,
    )
    assert isinstance(city, City)


async def test_instructor_json_mode_gets_a_json_object(gateway):
    """Mode.JSON sends `json_object` (any JSON object) and the schema only as prompt text: the
    gateway guarantees the JSON, following the schema is up to the model, and this tiny one
    copies the schema instead. Larger models, or Mode.JSON_SCHEMA above, give the object."""
    client = _instructor(gateway, instructor.Mode.JSON)
    answers = []
    client.on("completion:response", lambda response: answers.append(response))
    with pytest.raises(InstructorRetryException, match="validation error"):
        await client.chat.completions.create(
            model=MODEL,
            response_model=City,
            messages=[{"role": "user", "content": QUESTION + JSON_HINT}],
            max_tokens=96,
            temperature=0,
            max_retries=0,
        )
    (answer,) = answers
    assert answer.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(answer.choices[0].message.content), dict)


@pytest.mark.parametrize("method", ["function_calling", "json_schema", "json_mode"])
async def test_langchain_with_structured_output(chat_model, method):
    structured = chat_model.with_structured_output(City, method=method)
    # json_mode constrains to JSON but sends no schema: the prompt has to name the keys.
    prompt = QUESTION + (JSON_HINT if method == "json_mode" else "")
    city = await structured.ainvoke(prompt)
    assert isinstance(city, City)


async def test_langchain_bind_tools_round_trip(chat_model):
    # strict: additionalProperties false, so the arguments are exactly the tool's.
    model = chat_model.bind_tools([get_weather], tool_choice="get_weather", strict=True)
    question = HumanMessage("What is the weather in Paris?")
    answer = await model.ainvoke([question])
    (call,) = answer.tool_calls
    assert call["name"] == "get_weather" and set(call["args"]) == {"city"}
    result = get_weather.invoke(call["args"])
    follow_up = await chat_model.bind_tools([get_weather], tool_choice="none").ainvoke(
        [question, answer, ToolMessage(result, tool_call_id=call["id"])]
    )
    assert follow_up.content and not follow_up.tool_calls


async def test_langchain_bind_tools_required_streams_a_call(chat_model):
    model = chat_model.bind_tools([get_weather], tool_choice="required")
    merged = None
    async for chunk in model.astream("What is the weather in Paris?"):
        merged = chunk if merged is None else merged + chunk
    (call,) = merged.tool_calls
    assert call["name"] == "get_weather" and isinstance(call["args"].get("city"), str)
