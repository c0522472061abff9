"""Anthropic's own Python client against the real gateway's Messages API: create, stream with a
tool round trip, count_tokens, and errors raised as the SDK's typed exceptions."""
from __future__ import annotations

import json
import urllib.request

import anthropic
import pytest

MODEL = "SmolLM2-135M-Instruct.Q4_1"
WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 24}}, "required": ["city"]},
}


@pytest.fixture
def client(gateway):
    return anthropic.AsyncAnthropic(base_url=gateway.url, api_key="unused", max_retries=0)


async def test_create_answers_a_message_with_usage(client):
    message = await client.messages.create(
        model=MODEL, max_tokens=8, extra_body={"temperature": 0},
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "Say hello."}],
        metadata={"user_id": "someone"},
    )
    assert message.type == "message" and message.role == "assistant" and message.model == MODEL
    assert message.id.startswith("msg_")
    assert [block.type for block in message.content] == ["text"] and message.content[0].text
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.output_tokens >= 1
    assert message.usage.input_tokens + message.usage.cache_read_input_tokens > 5


async def test_stop_sequence_is_named(client):
    message = await client.messages.create(
        model=MODEL, max_tokens=32, extra_body={"temperature": 0}, stop_sequences=["!", "."],
        messages=[{"role": "user", "content": "Say hello."}],
    )
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence in ("!", ".")
    assert message.stop_sequence not in message.content[0].text


async def test_stream_with_a_forced_tool_round_trip(client):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    async with client.messages.stream(
        model=MODEL, max_tokens=64, extra_body={"temperature": 0}, tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}, messages=messages,
    ) as stream:
        kinds = [event.type async for event in stream]
        first = await stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "input_json" in kinds  # the SDK's event for input_json_delta pieces
    assert first.stop_reason == "tool_use"
    call = next(block for block in first.content if block.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input["city"], str)

    # The tool's result goes back; the model answers in text.
    messages += [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18 degrees, sunny"}]},
    ]
    async with client.messages.stream(model=MODEL, max_tokens=16, extra_body={"temperature": 0}, tools=[WEATHER],
                                      messages=messages) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        second = await stream.get_final_message()
    assert second.stop_reason in ("end_turn", "max_tokens", "tool_use")
    assert text == "".join(b.text for b in second.content if b.type == "text")


async def test_count_tokens_counts_the_conversation_and_tools(client):
    short = await client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    longer = await client.messages.count_tokens(
        model=MODEL, system="You answer questions about the weather.", tools=[WEATHER],
        messages=[{"role": "user", "content": "Hi"}],
    )
    assert 0 < short.input_tokens < longer.input_tokens


async def test_a_system_turn_inside_messages_is_taken(client):
    """Claude Code sends a message with role system after the first user turn."""
    message = await client.messages.create(
        model=MODEL, max_tokens=4, extra_body={"temperature": 0},
        messages=[{"role": "user", "content": "Hi"}, {"role": "system", "content": [{"type": "text", "text": "Be brief."}]}],
    )
    assert message.content


async def test_thinking_and_effort_are_accepted_by_a_model_that_does_not_reason(client):
    message = await client.messages.create(
        model=MODEL, max_tokens=8, thinking={"type": "enabled", "budget_tokens": 1024},
        output_config={"effort": "low"}, extra_body={"temperature": 0, "context_management": {"edits": []}},
        messages=[{"role": "user", "content": "Hi"}],
    )
    assert [block.type for block in message.content] == ["text"]


@pytest.mark.parametrize(
    "kwargs, exception, words",
    [
        (dict(model="claude-nothing"), anthropic.NotFoundError, "does not exist"),
        (dict(extra_body={"temperature": 1.5}), anthropic.BadRequestError, "temperature"),
        (dict(messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}]),
         anthropic.BadRequestError, "image blocks are not supported"),
        (dict(tools=[WEATHER], tool_choice={"type": "tool", "name": "other"}), anthropic.BadRequestError, "other"),
        (dict(extra_body={"mcp_servers": [{"type": "url", "url": "https://example.com", "name": "x"}]}),
         anthropic.BadRequestError, "mcp_servers"),
        (dict(extra_body={"temprature": 1}), anthropic.BadRequestError, "temprature"),
    ],
    ids=["unknown-model", "temperature", "image", "tool-choice", "mcp-servers", "unknown-field"],
)
async def test_errors_are_the_sdks_typed_exceptions(client, kwargs, exception, words):
    args = {"model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "Hi"}], **kwargs}
    with pytest.raises(exception) as info:
        await client.messages.create(**args)
    body = info.value.body
    assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
    assert words in body["error"]["message"]


async def test_a_prompt_over_the_window_is_anthropics_prompt_too_long(client):
    with pytest.raises(anthropic.BadRequestError) as info:
        await client.messages.create(model=MODEL, max_tokens=4, messages=[{"role": "user", "content": "word " * 9000}])
    error = info.value.body["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("prompt is too long: ") and error["message"].endswith(" maximum")


def test_hosted_tools_are_left_out_and_named(gateway):
    body = {
        "model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "Hi"}],
        "tools": [WEATHER, {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}],
    }
    request = urllib.request.Request(gateway.url + "/v1/messages?beta=true", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "anthropic-version": "2023-06-01",
                                              "anthropic-beta": "web-search-2025-03-05"})
    with urllib.request.urlopen(request, timeout=120) as resp:
        assert resp.status == 200
        assert resp.headers["X-Omitted-Tools"] == "web_search"


@pytest.fixture(scope="module")
def keyed_gateway(start_gateway):
    return start_gateway(env={"OSS_SIDECAR_SERVER__API_KEYS": '["sk-local"]', "OSS_SIDECAR_EMBEDDINGS__ENABLED": "false"})


async def test_the_key_goes_as_x_api_key_or_bearer(keyed_gateway):
    args = dict(model=MODEL, max_tokens=2, messages=[{"role": "user", "content": "Hi"}])
    with_key = anthropic.AsyncAnthropic(base_url=keyed_gateway.url, api_key="sk-local", max_retries=0)
    assert (await with_key.messages.create(**args)).content is not None
    bearer = anthropic.AsyncAnthropic(base_url=keyed_gateway.url, auth_token="sk-local", max_retries=0)
    assert (await bearer.messages.count_tokens(model=MODEL, messages=args["messages"])).input_tokens > 0
    wrong = anthropic.AsyncAnthropic(base_url=keyed_gateway.url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        await wrong.messages.create(**args)
    assert info.value.body["error"]["type"] == "authentication_error"
