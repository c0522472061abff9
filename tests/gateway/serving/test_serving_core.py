"""The serving core with the real embedded engine in-process, through its wire-neutral API:
what any wire module (OpenAI, Ollama, ...) builds on."""
from __future__ import annotations

import pytest

from gateway.engines.base import SamplingParams
from gateway.engines.llamacpp.engine import LlamaCppEngine
from gateway.errors import ApiError
from gateway.serving import ChatRequest, ChoiceEvent, Serving, TextRequest
from gateway.settings import load_settings
from gateway.telemetry import Metrics


@pytest.fixture(scope="module")
async def serving():
    settings = load_settings(environ={"OSS_SIDECAR_LLAMACPP__N_PARALLEL": "2",
                                      "OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT": "1024"})
    engine = LlamaCppEngine(settings)
    core = Serving(settings, engine, Metrics())
    assert core.admission.max_concurrency == engine.capacity == 2  # the engine's capacity is the default
    await engine.start()
    core.status = "ready"
    yield core
    await engine.stop()


def _greedy(max_tokens: int) -> SamplingParams:
    return SamplingParams(max_tokens=max_tokens, temperature=0)


async def test_chat_events_then_usage_counts_the_prompt_once(serving):
    req = ChatRequest(messages=[{"role": "user", "content": "Hi"}], sampling=_greedy(5), n=2)
    async with serving.chat(req, "core-1") as run:
        events = [e async for e in run]
        usage = run.usage()
    assert all(isinstance(e, ChoiceEvent) for e in events)
    finishes = {e.index: e.finish_reason for e in events if e.finish_reason}
    assert finishes == {0: "length", 1: "length"}
    tokenizer = serving.engine.tokenizer
    once = await tokenizer.count(await tokenizer.apply_chat_template(req.messages))
    assert usage.completion_tokens == 10 and usage.prompt_tokens == once
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_complete_with_echo_and_fim_fallback_stop(serving):
    req = TextRequest(prompts=["def f():\n"], sampling=_greedy(4), echo=True)
    async with serving.complete(req, "core-2") as run:
        results = await run.results()
    assert results[0].text.startswith("def f():\n") and results[0].finish_reason in ("stop", "length")


async def test_errors_before_the_first_token_are_statuses(serving):
    with pytest.raises(ApiError) as info:
        async with serving.chat(ChatRequest([{"role": "user", "content": "x"}], _greedy(2), model="other"), "e1"):
            pass
    assert info.value.status == 404 and info.value.param == "model"
    long = TextRequest(prompts=["word " * 1500], sampling=_greedy(2))
    with pytest.raises(ApiError) as info:
        async with serving.complete(long, "e2"):
            pass
    assert info.value.status == 400 and info.value.code == "context_length_exceeded"
    assert serving.admission.running == 0


async def test_history_window_drops_oldest_turns(serving):
    messages = [{"role": "system", "content": "Be brief."}]
    for i in range(12):
        messages += [{"role": "user", "content": f"question {i} " + "about the sea " * 10},
                     {"role": "assistant", "content": "the sea is wide " * 10}]
    messages.append({"role": "user", "content": "Who are you?"})
    req = ChatRequest(messages=messages, sampling=_greedy(2), history_window=300)
    async with serving.chat(req, "core-3") as run:
        await run.results()
    assert run.dropped_messages > 0 and run.usage().prompt_tokens <= 300
