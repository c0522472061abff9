"""History window trimming: plain requests over the context get 400, opted-in ones drop the oldest turns."""
from __future__ import annotations


import openai
import pytest

MODEL = "SmolLM2-135M-Instruct.Q4_1"


@pytest.fixture(scope="module")
def small_gateway(start_gateway):
    return start_gateway(env={"OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT": "1024", "OSS_SIDECAR_LLAMACPP__N_PARALLEL": "1"})


def _long_history(turns: int) -> list[dict]:
    messages = [{"role": "system", "content": "You are Captain Haddock. Reply in one short sentence."}]
    for i in range(turns):
        messages.append({"role": "user", "content": f"Question {i}: " + "tell me about the sea " * 12})
        messages.append({"role": "assistant", "content": f"Answer {i}: " + "the sea is wide " * 12})
    messages.append({"role": "user", "content": "Who are you?"})
    return messages


async def test_plain_request_over_context_is_400_but_opt_in_trims_oldest_first(small_gateway):
    client = openai.AsyncOpenAI(base_url=small_gateway.base_url, api_key="x", max_retries=0)
    messages = _long_history(20)
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model=MODEL, messages=messages, max_tokens=8)

    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=messages, max_tokens=8, extra_body={"truncate_prompt_tokens": -1}
    )
    reply = raw.parse()
    dropped = int(raw.headers["X-History-Trimmed"])
    assert dropped >= 2 and dropped % 2 == 0, "whole turns are dropped"
    # The model saw at most the window (context 1024 minus the 8 answer tokens), system prompt kept.
    assert reply.usage.prompt_tokens <= 1024 - 8
    assert reply.usage.prompt_tokens > 500, "as much history as fits is kept"
    # The window used, and the kept prompt as counted while fitting it (the chat page's notice).
    assert raw.headers["X-History-Window"] == str(1024 - 8)
    assert 500 < int(raw.headers["X-Prompt-Tokens"]) <= 1024 - 8

    stream = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=messages, max_tokens=4, stream=True, extra_body={"truncate_prompt_tokens": 300}
    )
    assert int(stream.headers["X-History-Trimmed"]) > dropped
    assert stream.headers["X-History-Window"] == "300"
    usage = None
    async for chunk in stream.parse():
        usage = chunk.usage or usage
    # Without include_usage there is no usage chunk; the header is what the page reads.
    assert usage is None


async def test_history_window_keeps_system_prompt(small_gateway):
    from gateway.prompts.history import fit_history

    class CountingTokenizer:  # word counts: enough to check which messages survive
        context_length = 1000

        async def apply_chat_template(self, messages, **kw):
            return " ".join(f"<{m['role']}> {m['content']}" for m in messages)

        async def count(self, text):
            return len(text.split())

    msgs = [{"role": "system", "content": "s " * 5}] + [
        {"role": r, "content": f"{r}{i} " + "w " * 10} for i in range(6) for r in ("user", "assistant")
    ]
    fitted = await fit_history(CountingTokenizer(), msgs, 60)
    assert fitted.messages[0]["role"] == "system"
    assert fitted.messages[1]["role"] == "user"
    assert fitted.messages[-1] == msgs[-1]
    assert fitted.prompt_tokens <= 60 and fitted.dropped == len(msgs) - len(fitted.messages)


async def test_a_short_chat_fits_by_its_bytes_without_the_tokenizer():
    from gateway.prompts.history import TEMPLATE_ALLOWANCE, fit_history

    class UnusedTokenizer:  # a test double: any call means the byte bound was not used
        async def apply_chat_template(self, messages, **kw):
            raise AssertionError("rendered a chat that fits by its bytes")

        async def count(self, text):
            raise AssertionError("counted a chat that fits by its bytes")

    msgs = [{"role": "user", "content": "héllo wörld " * 20}]
    fitted = await fit_history(UnusedTokenizer(), msgs, 8192)
    assert fitted.messages == msgs and fitted.dropped == 0 and fitted.prompt_tokens is None
    # Near the window the bound no longer holds, and the history is counted.
    with pytest.raises(AssertionError, match="rendered"):
        await fit_history(UnusedTokenizer(), msgs, TEMPLATE_ALLOWANCE + 100)
