"""What popular clients send beyond OpenAI's fields, through the openai SDK as they send it:
explicit nulls (the SDK writes a None argument as `null`), and llama.cpp's and vLLM's extras in
`extra_body` (llama.cpp's server documents `repeat_penalty`, `cache_prompt`, `typical_p`,
`mirostat`; vLLM's `chat_template_kwargs`)."""
from __future__ import annotations

import openai
import pytest

MODEL = "SmolLM2-135M-Instruct.Q4_1"
MESSAGES = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture
def client(gateway):
    return openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)


def test_nulls_mean_the_default(client):
    chat = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=4, n=None, stream=None, temperature=None, top_p=None,
        stop=None, seed=None, logprobs=None, stream_options=None, tools=None, response_format=None,
        extra_body={"ignore_eos": None, "top_k": None},
    )
    assert len(chat.choices) == 1 and chat.choices[0].message.content
    text = client.completions.create(
        model=MODEL, prompt="def add(a, b):", max_tokens=4, n=None, stream=None, echo=None, logprobs=None,
        suffix=None, best_of=None,
    )
    assert len(text.choices) == 1 and text.choices[0].text


def test_llamacpp_extras_shape_the_answer(client):
    def answer(**extra):
        chat = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, max_tokens=24, temperature=0, extra_body=extra
        )
        return chat.choices[0].message.content

    plain = answer()
    # llama.cpp's name and vLLM's name for the same penalty give the same answer, unlike none.
    assert answer(repeat_penalty=1.8, cache_prompt=True) == answer(repetition_penalty=1.8) != plain
    # Extra template variables (the template may ignore them) and OpenRouter's reasoning object.
    assert answer(chat_template_kwargs={"enable_thinking": False}, reasoning={"effort": "low"}) == plain
    # llama.cpp's own samplers reach it: sampling at temperature 1 under mirostat or typical-p.
    for extra in ({"mirostat": 2, "mirostat_tau": 3.0, "mirostat_eta": 0.1}, {"typical_p": 0.5}):
        assert answer(temperature=1, seed=3, **extra)


@pytest.mark.parametrize(
    "extra, param",
    [({"mirostat": 3}, "mirostat"), ({"typical_p": 0}, "typical_p"), ({"reasoning": {"max_tokens": 9}}, "reasoning.max_tokens")],
)
def test_out_of_range_extras_are_400_naming_them(client, extra, param):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=2, extra_body=extra)
    assert exc.value.body["param"] == param
