"""Chat and completions through the official openai SDK against the real embedded model."""
from __future__ import annotations

import openai
import pytest


MODEL = "SmolLM2-135M-Instruct.Q4_1"


@pytest.fixture
def client(gateway):
    return openai.AsyncOpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)


async def test_models_lists_the_served_model(client):
    models = await client.models.list()
    # The chat model first, then the embedding model (tests/gateway/test_embeddings.py).
    assert [m.id for m in models.data] == [MODEL, "all-MiniLM-L6-v2"]


async def test_chat_non_stream_answers_with_usage(client):
    reply = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}],
        max_tokens=12,
        temperature=0,
    )
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert reply.usage.completion_tokens <= 12
    assert reply.usage.prompt_tokens > 5
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


async def test_chat_stream_matches_non_stream_and_reports_usage(client):
    kwargs = dict(
        model=MODEL,
        messages=[{"role": "user", "content": "Name three colours."}],
        max_tokens=24,
        temperature=0,
        seed=7,
    )
    full = await client.chat.completions.create(**kwargs)
    stream = await client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True})
    pieces, finish, usage, roles = [], None, None, []
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.role:
                roles.append(choice.delta.role)
            if choice.delta.content:
                pieces.append(choice.delta.content)
            finish = choice.finish_reason or finish
    assert roles == ["assistant"]
    assert len(pieces) > 1, "the answer should arrive in several chunks"
    assert "".join(pieces) == full.choices[0].message.content
    assert finish == full.choices[0].finish_reason
    assert usage.completion_tokens == full.usage.completion_tokens
    assert usage.prompt_tokens == full.usage.prompt_tokens


async def test_n_choices_and_extras(client):
    reply = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "developer", "content": "Answer in one word."}, {"role": "user", "content": "Sky colour?"}],
        max_completion_tokens=6,
        n=2,
        extra_body={"top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1},
        presence_penalty=0.5,
        frequency_penalty=0.2,
        top_p=0.9,
        user="ignored-by-us",
    )
    assert [c.index for c in reply.choices] == [0, 1]
    assert all(c.message.content for c in reply.choices)
    assert reply.usage.completion_tokens <= 12


async def test_stop_sequence_ends_the_answer(client):
    reply = await client.completions.create(
        model=MODEL, prompt="1, 2, 3, 4, 5,", max_tokens=30, temperature=0, stop=" 8"
    )
    assert " 8" not in reply.choices[0].text
    assert reply.choices[0].finish_reason == "stop"


async def test_completion_stream_and_echo(client):
    model = MODEL
    stream = await client.completions.create(model=model, prompt="def add(a, b):", max_tokens=10, stream=True)
    texts = [c.choices[0].text async for c in stream if c.choices]
    assert "".join(texts)
    echoed = await client.completions.create(model=model, prompt="Once upon", max_tokens=3, echo=True)
    assert echoed.choices[0].text.startswith("Once upon")


async def test_completion_with_suffix_uses_fallback_stop(client, gateway):
    # SmolLM2 has no FIM tokens: the gateway sends the prefix and stops at the suffix's first line.
    models = await client.models.list()
    assert models.data[0].model_extra["fim_family"] is None
    reply = await client.completions.create(
        model=MODEL,
        prompt="def add(a, b):\n",
        suffix="\nprint(add(1, 2))\n",
        max_tokens=40,
        temperature=0,
    )
    assert "print(add(1, 2))" not in reply.choices[0].text
    assert reply.usage.completion_tokens > 0


async def test_chinese_and_emoji_stay_valid_utf8(client):
    kwargs = dict(
        model=MODEL,
        messages=[{"role": "user", "content": "请用中文回答，并加上表情符号 😀🎉：你好吗？"}],
        max_tokens=48,
        temperature=0,
        seed=1,
    )
    full = await client.chat.completions.create(**kwargs)
    stream = await client.chat.completions.create(**kwargs, stream=True)
    pieces = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
    text = "".join(pieces)
    assert "\ufffd" not in text and "\ufffd" not in full.choices[0].message.content
    for piece in pieces:  # every chunk on its own is whole characters
        piece.encode("utf-8")
        assert "\ufffd" not in piece
    assert text == full.choices[0].message.content
    assert any(ord(ch) > 0x2E80 for ch in text), f"expected CJK or emoji in {text!r}"


async def test_model_defaults_fill_what_a_request_leaves_out(start_gateway):
    gw = start_gateway(env={"OSS_SIDECAR_MODEL__DEFAULT_MAX_TOKENS": "5",
                            "OSS_SIDECAR_MODEL__SAMPLING__TEMPERATURE": "0"})
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key="x", max_retries=0)
    reply = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Tell me a long story."}], extra_body={"ignore_eos": True}
    )
    assert reply.usage.completion_tokens == 5 and reply.choices[0].finish_reason == "length"
    explicit = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Tell me a long story."}], max_tokens=9,
        extra_body={"ignore_eos": True},
    )
    assert explicit.usage.completion_tokens == 9
    # model.sampling.temperature 0: a request without a temperature is the greedy answer.
    ask = [{"role": "user", "content": "Name a fruit."}]
    greedy = await client.chat.completions.create(model=MODEL, messages=ask, max_tokens=16, temperature=0)
    for _ in range(3):
        unset = await client.chat.completions.create(model=MODEL, messages=ask, max_tokens=16)
        assert unset.choices[0].message.content == greedy.choices[0].message.content
