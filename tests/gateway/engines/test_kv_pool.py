"""The embedded engine's KV cache as one pool that every slot shares (llamacpp.context_total):
with the default settings a conversation still gets its whole window, four still run at once,
and the pool's size is reported (doctor, /v1/stats, /metrics)."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import aiohttp
import pytest

from gateway.engines.base import GenerationRequest, SamplingParams

from gateway.engines.default_model import default_model_path
from gateway.engines.llamacpp.engine import LlamaCppEngine
from gateway.engines.llamacpp.kv_cache import kv_cache_bytes, kv_shape
from gateway.settings import ConfigError, load_settings
from tests.conftest import ROOT

# A varied paragraph (about 50 tokens); repeated with a running number it fills a history.
PARAGRAPH = ("Note {n}: the lighthouse keeper wrote down the wind, the tide and the ships that "
             "passed the northern rocks, then checked the lamp, trimmed the wick and climbed the "
             "one hundred and twelve steps again before the evening storm arrived from the west.")


def history(tokens_wanted: int) -> list[dict]:
    """A chat history of about tokens_wanted tokens, in turns, ending with a question."""
    messages, n = [], 0
    while n * 50 < tokens_wanted:
        messages.append({"role": "user", "content": " ".join(PARAGRAPH.format(n=n + k) for k in range(4))})
        messages.append({"role": "assistant", "content": "Noted."})
        n += 4
    messages.append({"role": "user", "content": "What did the keeper climb? Answer in a few words."})
    return messages


@pytest.mark.timeout(900)  # a prefill of 7,000 tokens on a busy shared machine
def test_a_7000_token_history_gets_an_answer(gateway):
    """The default pool holds one whole window: a conversation is not cut to a share of it."""
    import urllib.request

    body = {"messages": history(6300), "max_tokens": 8, "temperature": 0}
    req = urllib.request.Request(gateway.base_url + "/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=900) as resp:
        answer = json.loads(resp.read())
    assert 6500 <= answer["usage"]["prompt_tokens"] <= 8100, answer["usage"]
    assert answer["choices"][0]["message"]["content"].strip()


async def test_four_conversations_run_at_once(gateway):
    """Four streams share the pool and the slots: each has its first token before any has its
    last (one after another, the second would start only when the first ended)."""
    events: list[tuple[str, int]] = []

    async def conversation(session: aiohttp.ClientSession, i: int) -> None:
        body = {"messages": [{"role": "user", "content": f"Count slowly from {i} upwards."}],
                "max_tokens": 160, "temperature": 0, "ignore_eos": True, "stream": True}
        async with session.post(gateway.base_url + "/chat/completions", json=body) as resp:
            assert resp.status == 200, await resp.text()
            first = True
            async for line in resp.content:
                if first and line.startswith(b"data: {") and b'"content"' in line:
                    events.append(("first", i))
                    first = False
            events.append(("end", i))

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900)) as session:
        await asyncio.gather(*(conversation(session, i) for i in range(4)))
    kinds = [kind for kind, _ in events]
    assert kinds.count("first") == 4 and kinds.count("end") == 4, events
    assert kinds.index("end") > max(i for i, kind in enumerate(kinds) if kind == "first"), events


def test_stats_report_the_pool(gateway):
    counters = gateway.stats()["engine_counters"]
    expected = kv_cache_bytes(default_model_path(), 8192, "f16")
    assert counters["kv_cache_tokens"] == 8192 and counters["kv_cache_bytes"] == expected
    assert f"oss_sidecar_engine_kv_cache_bytes {float(expected)!r}" in gateway.metrics_text()


def test_kv_size_from_the_models_header():
    # SmolLM2-135M: 30 layers, 3 KV heads of 64 for keys and values, 2 bytes each (f16).
    shape = kv_shape(default_model_path())
    assert (shape.layers, shape.kv_heads, shape.key_length, shape.value_length) == (30, 3, 64, 64)
    assert shape.bytes_for(8192, "f16") == 8192 * 30 * 3 * 128 * 2
    assert shape.bytes_for(8192, "q8_0") == 8192 * 30 * 3 * 128 * 34 // 32
    assert shape.bytes_for(1000, "f16") == shape.bytes_for(1024, "f16")  # padded to 256 cells


async def test_the_pool_reaches_llamacpps_params():
    """One unified pool of context_total tokens (one window when empty), each slot capped at one
    window, in the KV cache type asked for."""
    cases = (({}, 8192, 8192, 1),
             ({"OSS_SIDECAR_LLAMACPP__CONTEXT_TOTAL": "16384", "OSS_SIDECAR_LLAMACPP__CACHE_TYPE": "q8_0"},
              16384, 8192, 8),
             ({"OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT": "16384", "OSS_SIDECAR_LLAMACPP__N_PARALLEL": "1"},
              16384, 16384, 1))
    for environ, pool, window, ggml_type in cases:
        eng = LlamaCppEngine(load_settings(environ=environ))
        params = eng.params(default_model_path())
        assert params.kv_unified and (params.n_ctx, params.kv_unified_per_slot) == (pool, window)
        assert int(params.cache_type_k) == int(params.cache_type_v) == ggml_type
        await eng.stop()  # removes the private listener's directory params() made


@pytest.mark.parametrize("environ, message", [
    ({"OSS_SIDECAR_LLAMACPP__CONTEXT_TOTAL": "4096"},
     "context_total (4096) is smaller than one conversation's window, context_per_slot (8192)"),
    ({"OSS_SIDECAR_LLAMACPP__CONTEXT_TOTAL": "40000"},
     "context_total (40000) is more than n_parallel windows (4 x 8192 = 32768)"),
])
def test_a_pool_that_cannot_work_is_a_config_error(environ, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(environ=environ)


def test_config_error_exits_2_with_one_line():
    proc = subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--port", "1"], cwd=ROOT,
                          env={**__import__("os").environ, "OSS_SIDECAR_LLAMACPP__CONTEXT_TOTAL": "1024"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "context_total (1024)" in lines[0] and "OSS_SIDECAR_LLAMACPP__CONTEXT_TOTAL" in lines[0]


def test_doctor_prints_the_pools_memory():
    proc = subprocess.run([sys.executable, "-m", "gateway.cli", "doctor"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert "[ok] KV cache: 180 MiB (8192 tokens, f16, llamacpp.context_total) shared by 4 slots, " \
           "each conversation up to 8192 tokens" in proc.stdout, proc.stdout + proc.stderr


async def test_a_full_pool_makes_a_request_wait_not_fail():
    """Two prompts of about 700 tokens at once in a pool of 1024 (two slots of 1024): the second
    waits for the first to leave the pool (llama.cpp's own server would end both runs with
    "Context size has been exceeded"), and both are answered."""
    settings = load_settings(environ={"OSS_SIDECAR_LLAMACPP__N_PARALLEL": "2",
                                      "OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT": "1024"})
    eng = LlamaCppEngine(settings)
    eng.check_model()
    await eng.start()
    try:
        async def ask(i: int) -> list:
            prompt = f"{i}: " + " ".join(PARAGRAPH.format(n=i * 100 + k) for k in range(14))
            request = GenerationRequest(f"pool-{i}", SamplingParams(max_tokens=4, temperature=0), prompt=prompt)
            return [d async for d in eng.generate(request)]

        answers = await asyncio.gather(ask(1), ask(2))
        for deltas in answers:
            assert deltas[-1].finish_reason == "length" and deltas[-1].prompt_tokens > 600
        counters = (await eng.stats()).counters
        assert counters["kv_pool_waits_total"] == 1 and counters["kv_cache_reserved_tokens"] == 0
    finally:
        await eng.stop()
