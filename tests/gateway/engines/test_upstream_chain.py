"""oss-sidecar in front of two other oss-sidecars with no tokenizer file: the front counts with
the upstreams' own POST /tokenize (vLLM's shape), serves chat and FIM, and keeps serving once one
of them is killed, the one it was tokenizing with included. Real gateways on loopback."""
from __future__ import annotations

import openai
import pytest

from tests.gateway.engines.test_upstream import MODEL, ONE_THREAD, per_server, wait_for, write_config


@pytest.fixture(scope="module")
def upstreams(start_gateway):
    started = [start_gateway(env=ONE_THREAD, wait=False) for _ in range(2)]  # they load side by side
    return [gw.wait_ready() for gw in started]


@pytest.fixture(scope="module")
def front(start_gateway, upstreams, tmp_path_factory):
    config = write_config(tmp_path_factory.mktemp("chain") / "front.yaml", [u.url for u in upstreams], None)
    assert "tokenizer" not in config.read_text()
    return start_gateway("--config", str(config))


@pytest.fixture(scope="module")
def client(front):
    return openai.AsyncOpenAI(base_url=front.base_url, api_key="x", max_retries=0, timeout=120)


HISTORY = [{"role": "system", "content": "You answer briefly."}] + [
    m for i in range(3) for m in ({"role": "user", "content": f"What is {i} plus {i}?"},
                                  {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."})
] + [{"role": "user", "content": "And 5 plus 5?"}]


async def chat(client, content: str = "Say hello.", **extra) -> openai.types.chat.ChatCompletion:
    return await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}], max_tokens=4, extra_body=extra or None)


async def fim(client, name: str) -> openai.types.Completion:
    return await client.completions.create(
        model=MODEL, prompt=f"def {name}(a, b):\n    return", suffix=f"\n\nprint({name}(1, 2))\n", max_tokens=4,
        temperature=0,
    )


async def test_the_front_counts_with_the_upstreams_tokenize(front, upstreams):
    assert "/tokenize (vLLM's shape)" in front.log()
    stats = front.stats()
    assert stats["engine"] == "upstream" and stats["model"] == MODEL
    assert stats["context_length"] == upstreams[0].stats()["context_length"]


async def test_chat_streams_and_fim_completes(client):
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Say hello."}], max_tokens=8, stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = chunk.usage
    assert text and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    answer = await fim(client, "add")
    assert answer.choices[0].finish_reason in ("stop", "length") and answer.usage.prompt_tokens > 0


async def test_history_window_counts_exactly_as_the_upstream(client):
    full = await client.chat.completions.create(model=MODEL, messages=HISTORY, max_tokens=1)
    exact = full.usage.prompt_tokens  # counted by the upstream that ran it
    kept = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=HISTORY, max_tokens=1, extra_body={"truncate_prompt_tokens": exact})
    assert kept.headers.get("X-History-Trimmed") is None
    cut = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=HISTORY, max_tokens=1, extra_body={"truncate_prompt_tokens": exact - 1})
    assert int(cut.headers["X-History-Trimmed"]) >= 1


async def test_keeps_serving_after_an_upstream_is_killed(client, front, upstreams):
    """The first upstream, the one the front tokenizes with while it is up, is killed: chat
    (history window on, so the front tokenizes) and FIM go on through the other one."""
    victim, survivor = upstreams
    victim.process.kill()
    victim.process.wait()
    for i in range(4):  # several prompts: some of them were homed on the killed server
        answer = await client.chat.completions.create(
            model=MODEL, messages=HISTORY[:-1] + [{"role": "user", "content": f"And {i} plus 7?"}], max_tokens=4,
            extra_body={"truncate_prompt_tokens": -1},
        )
        assert answer.choices[0].finish_reason in ("stop", "length")
        assert (await fim(client, f"add_{i}")).choices[0].finish_reason in ("stop", "length")
    await wait_for(lambda: per_server(front)[victim.url]["upstream_up"] == 0, what="the killed upstream marked down")
    assert per_server(front)[survivor.url]["upstream_up"] == 1
    assert front.stats()["status"] == "ready"
