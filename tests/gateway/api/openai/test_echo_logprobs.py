"""/v1/completions with echo and logprobs scores the prompt itself, as lm-evaluation-harness's
`local-completions` loglikelihood requests need (echo, logprobs, max_tokens 0 or 1), through the
openai SDK: each prompt token's log probability given the tokens before it (null for the first),
the same number llama.cpp gives that token when it generates it."""
from __future__ import annotations

import openai
import pytest

MODEL = "SmolLM2-135M-Instruct.Q4_1"
PROMPT = "The capital of France is Paris"


@pytest.fixture
def client(gateway):
    return openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)


def test_echo_scores_the_prompt(client):
    scored = client.completions.create(model=MODEL, prompt=PROMPT, echo=True, logprobs=1, max_tokens=0, temperature=0)
    choice = scored.choices[0]
    lp = choice.logprobs
    assert choice.text == PROMPT and "".join(lp.tokens) == PROMPT
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert all(x is not None and x <= 0 for x in lp.token_logprobs[1:])
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(len(lp.tokens))]
    assert scored.usage.prompt_tokens == len(lp.tokens) and scored.usage.completion_tokens == 0
    # The last prompt token's log probability is the one it has when the model writes it.
    head = PROMPT.rsplit(" ", 1)[0]
    written = client.completions.create(model=MODEL, prompt=head, logprobs=3, max_tokens=1, temperature=0)
    top = written.choices[0].logprobs.top_logprobs[0]
    assert lp.tokens[-1] in top and abs(top[lp.tokens[-1]] - lp.token_logprobs[-1]) < 1e-3


def test_echo_then_generated_tokens_streamed(client):
    stream = client.completions.create(model=MODEL, prompt=PROMPT, echo=True, logprobs=1, max_tokens=1,
                                       temperature=0, stream=True)
    tokens, logprobs = [], []
    for chunk in stream:
        for choice in chunk.choices:
            if choice.logprobs:
                tokens += choice.logprobs.tokens
                logprobs += choice.logprobs.token_logprobs
    assert "".join(tokens).startswith(PROMPT) and len(tokens) == len(logprobs) > 2
    assert logprobs[0] is None and all(x is not None for x in logprobs[1:])


def test_max_tokens_0_needs_echo(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=0)
    assert err.value.body["param"] == "max_tokens"
