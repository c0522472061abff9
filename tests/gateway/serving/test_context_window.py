"""The model's window in the serving core, for every wire format: an output limit above what the
prompt leaves is clamped to it (agents send max_tokens 32000 by habit), and a prompt over the
window is one error, ContextLengthExceeded, that carries both token counts for each wire to word
its own way. The real embedded engine in-process, with a small window.

llama.cpp stops at the window itself, so the core leaves the limit to it; the core's own count
and clamp (what an upstream engine gets, whose server may refuse such a limit) is exercised with
`stops_at_window` turned off on the same engine."""
from __future__ import annotations

import pytest

from gateway.engines.base import SamplingParams
from gateway.engines.llamacpp.engine import LlamaCppEngine
from gateway.errors import ContextLengthExceeded
from gateway.prompts.history import count_prompt
from gateway.serving import ChatRequest, Serving, TextRequest
from gateway.settings import load_settings
from gateway.telemetry import Metrics

CONTEXT = 512


@pytest.fixture(scope="module")
async def serving():
    settings = load_settings(environ={"OSS_SIDECAR_LLAMACPP__N_PARALLEL": "1",
                                      "OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT": str(CONTEXT)})
    engine = LlamaCppEngine(settings)
    core = Serving(settings, engine, Metrics())
    await engine.start()
    core.status = "ready"
    yield core
    await engine.stop()


def _limit(max_tokens) -> SamplingParams:
    return SamplingParams(max_tokens=max_tokens, temperature=0)


def _tool(name: str, words: int) -> dict:
    return {"name": name, "description": "look it up " * words,
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}


@pytest.fixture
def counting(serving, monkeypatch):
    """The serving core as it runs over an engine that does not stop at the window by itself."""
    monkeypatch.setattr(serving.engine, "stops_at_window", False)
    return serving


async def test_the_embedded_engine_ends_an_output_limit_above_the_window_at_its_end(serving):
    messages = [{"role": "user", "content": "Repeat: " + "word " * 400}]
    prompt = await count_prompt(serving.engine.tokenizer, messages)
    req = ChatRequest(messages, _limit(32000), ignore_eos=True)
    async with serving.chat(req, "window-1") as run:
        assert run.choices[0].request.sampling.max_tokens == 32000  # not counted: llama.cpp stops itself
        (result,) = await run.results()
    assert result.finish_reason == "length"
    assert run.usage().prompt_tokens == prompt and run.usage().completion_tokens == CONTEXT - prompt


async def test_an_output_limit_above_the_window_is_clamped_to_what_the_prompt_leaves(counting):
    serving = counting
    messages = [{"role": "user", "content": "Say hi."}]
    prompt = await count_prompt(serving.engine.tokenizer, messages)
    async with serving.chat(ChatRequest(messages, _limit(32000)), "clamp-1") as run:
        assert run.choices[0].request.sampling.max_tokens == CONTEXT - prompt
        await run.results()
    assert run.usage().prompt_tokens == prompt
    assert run.usage().completion_tokens <= CONTEXT - prompt
    # A limit that fits is left alone, and a short prompt is not even counted to know it.
    async with serving.chat(ChatRequest(messages, _limit(7)), "clamp-2") as run:
        assert run.choices[0].request.sampling.max_tokens == 7


async def test_text_prompts_are_clamped_each_by_its_own_length(counting):
    serving = counting
    req = TextRequest(prompts=["Once upon a time", "word " * 300], sampling=_limit(32000))
    async with serving.complete(req, "clamp-3") as run:
        limits = [c.request.sampling.max_tokens for c in run.choices]
    tokenizer = serving.engine.tokenizer
    assert limits == [CONTEXT - await tokenizer.count(p) for p in req.prompts]


async def test_the_tools_the_template_shows_count_toward_the_prompt(counting):
    serving = counting
    messages = [{"role": "user", "content": "Look it up."}]
    tools = [_tool("lookup", 20)]
    counted = await count_prompt(serving.engine.tokenizer, messages, tools)
    assert counted > await count_prompt(serving.engine.tokenizer, messages) + 60
    async with serving.chat(ChatRequest(messages, _limit(32000), tools=tools), "clamp-4") as run:
        assert run.choices[0].request.sampling.max_tokens == CONTEXT - counted
    # Messages alone would fit; with the tools they do not.
    with pytest.raises(ContextLengthExceeded) as info:
        async with serving.chat(ChatRequest(messages, _limit(100), tools=[_tool("big", 200)]), "clamp-5"):
            pass
    assert info.value.prompt_tokens > CONTEXT and info.value.limit == CONTEXT


@pytest.mark.parametrize("engine_stops", [True, False])
@pytest.mark.parametrize("max_tokens", [32000, 5, None])
async def test_a_prompt_over_the_window_is_one_error_with_both_counts(serving, monkeypatch, max_tokens, engine_stops):
    """Found by the core's count (a limit given, an engine that does not stop at the window) or by
    the engine: the same error."""
    monkeypatch.setattr(serving.engine, "stops_at_window", engine_stops)
    messages = [{"role": "user", "content": "word " * 700}]
    with pytest.raises(ContextLengthExceeded) as info:
        async with serving.chat(ChatRequest(messages, _limit(max_tokens)), f"long-{max_tokens}-{engine_stops}"):
            pass
    exc = info.value
    assert exc.status == 400 and exc.code == "context_length_exceeded" and exc.param == "messages"
    assert exc.limit == CONTEXT and exc.prompt_tokens == await count_prompt(serving.engine.tokenizer, messages)
    assert exc.message == (
        f"This model's maximum context length is {CONTEXT} tokens. However, your messages resulted in "
        f"{exc.prompt_tokens} tokens. Please reduce the length of the messages."
    )
    with pytest.raises(ContextLengthExceeded) as info:
        async with serving.complete(TextRequest(["word " * 700], _limit(max_tokens)), f"long-text-{max_tokens}-{engine_stops}"):
            pass
    assert info.value.param == "prompt" and info.value.prompt_tokens >= 700
    assert serving.admission.running == 0


async def test_a_trimmed_history_keeps_half_the_window_when_the_limit_asks_for_more(serving):
    messages = []
    for i in range(10):
        messages += [{"role": "user", "content": f"question {i} " + "about the sea " * 10},
                     {"role": "assistant", "content": "the sea is wide " * 10}]
    messages.append({"role": "user", "content": "Who are you?"})
    req = ChatRequest(messages, _limit(32000), history_window=-1)
    async with serving.chat(req, "clamp-6") as run:
        limit = run.choices[0].request.sampling.max_tokens
    assert run.dropped_messages > 0
    assert CONTEXT // 2 <= limit < CONTEXT  # the kept history was counted: the limit is what it leaves
