"""gpt-oss through the gateway on a real GPU: a gpt-oss-shaped folder (gpt-oss-20b's layers, MXFP4
experts, 4 of its 24 layers, random weights) with the o200k_harmony vocabulary. The prompt must be
harmony's rendering token for token (with the reasoning effort in it), and the answer must come back
through the harmony parser in streams and whole answers alike. Random weights produce no harmony
header, so what is checked of the output is its plumbing, not its channels (CPU tests cover those).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gpu

openai = pytest.importorskip("openai")
pytest.importorskip("openai_harmony")

MESSAGES = [{"role": "system", "content": "You answer in one line."},
            {"role": "user", "content": "Write a haiku about 🦀 and a naïve café.\n```py\nprint(1)\n```"}]


@pytest.fixture(scope="module")
def srv(gptoss_server):
    return gptoss_server


def client(srv):
    return openai.OpenAI(base_url=srv.url + "/v1", api_key="none", max_retries=0, timeout=120)


def harmony_prompt_len(effort: str) -> int:
    from gateway.prompts import harmony

    return len(harmony.render_chat(MESSAGES, reasoning_effort=effort))


def test_gptoss_is_detected_as_harmony(srv):
    code, body = srv.get("/health")
    assert code == 200 and body["status"] == "ready"
    assert "harmony" in srv.tail(400)  # the engine's ready line names the prompt format


@pytest.mark.parametrize("effort", ["low", "high"])
def test_gptoss_prompt_is_the_harmony_rendering(srv, effort):
    r = client(srv).chat.completions.create(
        model=srv.model, messages=MESSAGES, max_tokens=24, temperature=0, reasoning_effort=effort)
    assert r.usage.prompt_tokens == harmony_prompt_len(effort)
    assert 1 <= r.usage.completion_tokens <= 24
    msg = r.choices[0].message
    answer = (msg.content or "") + ((msg.model_extra or {}).get("reasoning_content") or "")
    assert answer  # random tokens come back as raw text rather than vanishing
    assert r.choices[0].finish_reason in ("length", "stop")


def test_gptoss_stream_carries_usage_and_ends(srv):
    stream = client(srv).chat.completions.create(
        model=srv.model, messages=MESSAGES, max_tokens=40, temperature=0.7, seed=3, stream=True,
        stream_options={"include_usage": True}, reasoning_effort="medium")
    text, finish, usage = [], None, None
    for chunk in stream:
        if chunk.choices:
            d = chunk.choices[0].delta
            text.append((d.content or "") + ((d.model_extra or {}).get("reasoning_content") or ""))
            finish = chunk.choices[0].finish_reason or finish
        usage = chunk.usage or usage
    assert finish in ("length", "stop")
    assert usage is not None and usage.prompt_tokens == harmony_prompt_len("medium")
    assert 1 <= usage.completion_tokens <= 40
    assert "".join(text)


def test_gptoss_stop_string_path_and_completions(srv):
    # A stop string makes vLLM detokenize (harmony output is otherwise parsed from token ids).
    r = client(srv).chat.completions.create(
        model=srv.model, messages=MESSAGES, max_tokens=16, temperature=0, stop=["\n\n"])
    assert r.choices[0].finish_reason in ("length", "stop")
    # Completions use the model's own tokenizer, no harmony rendering.
    c = client(srv).completions.create(model=srv.model, prompt="def square(x):\n    return", max_tokens=8,
                                       temperature=0)
    assert c.usage.prompt_tokens >= 5 and 1 <= c.usage.completion_tokens <= 8


def test_gptoss_bad_reasoning_effort_is_400(srv):
    with pytest.raises(openai.BadRequestError) as err:
        client(srv).chat.completions.create(model=srv.model, messages=MESSAGES, max_tokens=4,
                                            reasoning_effort="extreme")
    assert "reasoning_effort" in str(err.value)
