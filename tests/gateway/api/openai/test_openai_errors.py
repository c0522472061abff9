"""Bad input gets the status OpenAI and vLLM give it, with an OpenAI error body naming the field,
and never disturbs another client's stream."""
from __future__ import annotations

import asyncio

import aiohttp
import openai
import pytest

MODEL = "SmolLM2-135M-Instruct.Q4_1"


@pytest.fixture
def client(gateway):
    return openai.AsyncOpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)


def _assert_error_body(body: dict, param=None):
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if param is not None:
        assert error["param"] == param, error


async def _post_raw(url: str, data: bytes) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=data, headers={"Content-Type": "application/json"}) as resp:
            return resp.status, await resp.json()


async def test_invalid_json_is_400(gateway):
    status, body = await _post_raw(gateway.base_url + "/chat/completions", b'{"messages": [')
    assert status == 400
    _assert_error_body(body)
    assert "JSON" in body["error"]["message"]
    status, body = await _post_raw(gateway.base_url + "/completions", b"[1, 2]")
    assert status == 400


@pytest.mark.parametrize(
    "kwargs, param",
    [
        (dict(temperature="hot"), "temperature"),
        (dict(temperature=5), "temperature"),
        (dict(top_p=0), "top_p"),
        (dict(max_tokens=0), "max_tokens"),
        (dict(n=0), "n"),
        (dict(presence_penalty=3), "presence_penalty"),
        (dict(stop=5), "stop"),
        (dict(messages=[{"role": "wizard", "content": "hi"}]), "messages[0].role"),
        (dict(messages=[]), "messages"),
        (dict(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]), "messages[0].content"),
    ],
)
async def test_bad_values_are_400_naming_the_field(client, kwargs, param):
    args = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, **kwargs}
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(**args)
    assert info.value.status_code == 400
    _assert_error_body(info.value.body if "error" in info.value.body else {"error": info.value.body}, param)


async def test_missing_field_is_400(client):
    with pytest.raises(openai.BadRequestError) as info:
        await client.completions.create(model=MODEL, prompt=None, max_tokens=2)  # type: ignore[arg-type]
    assert info.value.body["param"] == "prompt"


async def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        await client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["code"] == "model_not_found"
    assert info.value.body["param"] == "model"


async def test_unknown_endpoint_is_404_json(gateway):
    async with aiohttp.ClientSession() as session:
        async with session.get(gateway.base_url + "/nope") as resp:
            assert resp.status == 404
            _assert_error_body(await resp.json())


async def test_prompt_longer_than_context_is_400(start_gateway):
    small = start_gateway(env={"OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT": "512", "OSS_SIDECAR_LLAMACPP__N_PARALLEL": "1"})
    client = openai.AsyncOpenAI(base_url=small.base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "word " * 800}], max_tokens=5
        )
    assert info.value.body["code"] == "context_length_exceeded"
    assert info.value.body["param"] == "messages"
    assert "512" in info.value.body["message"]
    with pytest.raises(openai.BadRequestError) as info:
        await client.completions.create(model=MODEL, prompt="word " * 800, max_tokens=5, stream=True)
    assert info.value.body["param"] == "prompt"


async def test_body_over_limit_is_413(start_gateway):
    gw = start_gateway(env={"OSS_SIDECAR_SERVER__MAX_BODY_BYTES": "4096"})
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x" * 10000}])
    assert info.value.status_code == 413
    assert "server.max_body_bytes" in info.value.body["message"]


async def test_bad_requests_do_not_disturb_a_running_stream(client):
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Tell me a story about a robot."}],
        max_tokens=40,
        stream=True,
        extra_body={"ignore_eos": True},
    )

    async def hammer():
        for _ in range(10):
            with pytest.raises(openai.BadRequestError):
                await client.chat.completions.create(model=MODEL, messages=[{"role": "bad", "content": "x"}])
            await asyncio.sleep(0.02)

    async def read():
        text, finish = [], None
        async for chunk in stream:
            for choice in chunk.choices:
                text.append(choice.delta.content or "")
                finish = choice.finish_reason or finish
        return "".join(text), finish

    (text, finish), _ = await asyncio.gather(read(), hammer())
    assert finish == "length" and text
