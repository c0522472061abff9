"""The gateway over vLLM at tensor parallel 1 with one slot and no queue: overload is a 429 with
Retry-After, and a killed engine core turns /health and requests into 503 (last: it kills the engine).
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.gpu

openai = pytest.importorskip("openai")


def client(srv):
    return openai.OpenAI(base_url=srv.url + "/v1", api_key="none", max_retries=0, timeout=120)


MESSAGES = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Name three prime numbers."}]


def test_tp1_chat(tp1_server):
    r = client(tp1_server).chat.completions.create(
        model=tp1_server.model, messages=MESSAGES, max_tokens=8, temperature=0,
        extra_body={"ignore_eos": True})
    assert r.usage.completion_tokens == 8
    assert tp1_server.stats()["engine_counters"]["tensor_parallel_size"] == 1


def test_tp1_overload_is_429_with_retry_after(tp1_server):
    conn = tp1_server.open_chat_stream({"messages": MESSAGES, "max_tokens": 2000, "ignore_eos": True})
    try:
        with pytest.raises(openai.RateLimitError) as err:
            client(tp1_server).chat.completions.create(
                model=tp1_server.model, messages=MESSAGES, max_tokens=4)
        assert err.value.response.headers.get("Retry-After")
        assert err.value.body and "message" in (err.value.body.get("error", err.value.body))
    finally:
        tp1_server.disconnect(conn)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and tp1_server.stats()["requests"]["running"]:
        time.sleep(0.2)
    # the slot is free again
    r = client(tp1_server).chat.completions.create(model=tp1_server.model, messages=MESSAGES, max_tokens=4)
    assert r.usage.completion_tokens >= 1


def test_tp1_engine_death_is_503(tp1_server):
    psutil = pytest.importorskip("psutil")
    gateway = psutil.Process(tp1_server.proc.pid)
    cores = [p for p in gateway.children(recursive=True)
             if "EngineCore" in " ".join([p.name()] + p.cmdline())]
    assert cores, [(p.pid, p.name(), p.cmdline()[:3]) for p in gateway.children(recursive=True)]
    for p in cores:
        p.kill()
    deadline = time.monotonic() + 60
    code = 200
    while time.monotonic() < deadline:
        code, body = tp1_server.get("/health")
        if code == 503:
            break
        time.sleep(0.5)
    assert code == 503, body
    with pytest.raises(openai.APIStatusError) as err:
        client(tp1_server).chat.completions.create(model=tp1_server.model, messages=MESSAGES, max_tokens=4)
    assert err.value.status_code == 503
    assert tp1_server.proc.poll() is None  # the gateway itself answers, it does not crash
