"""The gateway over vLLM on real GPUs, through real clients (the openai SDK, raw HTTP): chat stream
and non-stream, completions with suffix, concurrency, the context limit, abort on disconnect proven
by the engine's own counters. One server for the module, at tensor parallel 2 where two GPUs are
visible, else at 1 (the tensor-parallel layout is vLLM's; every check here holds for both).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.gpu

openai = pytest.importorskip("openai")


def client(srv):
    return openai.OpenAI(base_url=srv.url + "/v1", api_key="none", max_retries=0, timeout=120)


def hf_tokenizer(srv):
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(srv.model_dir))


@pytest.fixture(scope="module")
def srv(serving_server):
    return serving_server


MESSAGES = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Name three prime numbers."}]



def test_health_models_and_gpu_stats(srv):
    code, body = srv.get("/health")
    assert code == 200 and body["status"] == "ready"
    code, models = srv.get("/v1/models")
    assert code == 200 and models["data"][0]["id"] == srv.model
    stats = srv.stats()
    assert stats["engine"] == "vllm"
    assert stats["context_length"] == 4096
    assert stats["memory"]["kind"] == "gpu"
    assert len(stats["memory"]["devices"]) >= srv.tp
    assert all(d["used_bytes"] > 0 for d in stats["memory"]["devices"][:srv.tp])
    assert stats["engine_counters"]["tensor_parallel_size"] == srv.tp


def test_chat_non_stream_usage_matches_tokenizer(srv):
    r = client(srv).chat.completions.create(
        model=srv.model, messages=MESSAGES, max_tokens=16, temperature=0,
        extra_body={"ignore_eos": True})
    assert r.object == "chat.completion"
    assert isinstance(r.choices[0].message.content, str)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 16
    tok = hf_tokenizer(srv)
    text = tok.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    assert r.usage.prompt_tokens == len(tok(text, add_special_tokens=False)["input_ids"])


def test_chat_stream_with_usage(srv):
    stream = client(srv).chat.completions.create(
        model=srv.model, messages=MESSAGES, max_tokens=32, temperature=0, stream=True,
        stream_options={"include_usage": True}, extra_body={"ignore_eos": True})
    pieces, finish, usage = [], None, None
    for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert finish == "length"
    assert usage is not None and usage.completion_tokens == 32
    assert sum(1 for p in pieces if p) >= 2  # streamed, not one block


def test_completions_with_suffix(srv):
    code, models = srv.get("/v1/models")
    r = client(srv).completions.create(
        model=srv.model, prompt="def add(a, b):\n    ", suffix="\n    return c\n", max_tokens=12,
        temperature=0)
    assert r.object == "text_completion"
    assert isinstance(r.choices[0].text, str)
    assert r.usage.prompt_tokens > 3 and 1 <= r.usage.completion_tokens <= 12
    # vLLM itself rejects `suffix`; the gateway rendered the prompt (SmolLM2's vocabulary has no
    # FIM tokens, so /v1/models says fim_family null and the prefix-only fallback is used).
    assert "fim_family" in models["data"][0]


def test_concurrent_streams(srv):
    c = client(srv)

    def one(i):
        s = c.chat.completions.create(
            model=srv.model, messages=[{"role": "user", "content": f"Count to {i}."}],
            max_tokens=24, temperature=0.8, seed=i, stream=True, stream_options={"include_usage": True},
            extra_body={"ignore_eos": True})
        usage = None
        for chunk in s:
            usage = chunk.usage or usage
        return usage.completion_tokens

    with ThreadPoolExecutor(12) as pool:
        assert list(pool.map(one, range(12))) == [24] * 12


def test_prompt_too_long_is_400(srv):
    with pytest.raises(openai.BadRequestError) as err:
        client(srv).chat.completions.create(
            model=srv.model, messages=[{"role": "user", "content": "word " * 6000}], max_tokens=8)
    assert "context length" in str(err.value)


def _counters(srv):
    s = srv.stats()
    return s["engine_counters"], s["gateway_counters"], s


def test_abort_on_disconnect_frees_the_request_in_vllm(srv):
    before, gw_before, _ = _counters(srv)
    conn = srv.open_chat_stream({"messages": MESSAGES, "max_tokens": 3000, "ignore_eos": True}, events=5)
    mid, _, stats_mid = _counters(srv)
    assert mid["num_requests_unfinished"] == 1
    srv.disconnect(conn)  # the client goes away mid-stream
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        after, gw_after, stats = _counters(srv)
        if (after["num_requests_unfinished"] == 0 and after["requests_aborted_total"] > before["requests_aborted_total"]
                and stats["requests"]["running"] == 0):
            break
        time.sleep(0.2)
    assert after["num_requests_unfinished"] == 0
    assert after["requests_aborted_total"] == before["requests_aborted_total"] + 1
    assert gw_after["requests_aborted_total"] == gw_before["requests_aborted_total"] + 1
    # The engine stopped generating for it: far fewer than 3000 tokens, and the count is flat.
    time.sleep(0.5)
    g1 = _counters(srv)[0]["generation_tokens_total"]
    time.sleep(1.0)
    g2 = _counters(srv)[0]["generation_tokens_total"]
    assert g1 == g2
    assert g2 - before["generation_tokens_total"] < 1500
    assert stats["engine_requests"]["running"] == 0 and stats["requests"]["running"] == 0
