"""docs/PROTOCOL.md's request-field tables, walked against the real gateway: each field, sent
alone with a sample value, works (200), is accepted and ignored (200), or is a 400 whose
`param` names it — as the table says. A field added to the code or the docs without the other
fails here."""
from __future__ import annotations

import aiohttp
import pytest

from field_tables import field_table, walk

MODEL = "SmolLM2-135M-Instruct.Q4_1"
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}

CHAT_BASE = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
CHAT_SAMPLES = {
    "messages": {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]},
    "model": {"model": MODEL},
    "frequency_penalty": {"frequency_penalty": 0.1},
    "presence_penalty": {"presence_penalty": 0.1},
    "logprobs": {"logprobs": True},
    "top_logprobs": {"logprobs": True, "top_logprobs": 2},
    "max_tokens": {"max_tokens": 2},
    "max_completion_tokens": {"max_completion_tokens": 2},
    "n": {"n": 2},
    "parallel_tool_calls": {"parallel_tool_calls": False, "tools": [TOOL]},
    "reasoning_effort": {"reasoning_effort": "low"},
    "response_format": {"response_format": {"type": "json_object"}},
    "seed": {"seed": 7},
    "stop": {"stop": ["\n"]},
    "stream": {"stream": True},
    "stream_options": {"stream": True, "stream_options": {"include_usage": True}},
    "temperature": {"temperature": 0},
    "top_p": {"top_p": 0.9},
    "tools": {"tools": [TOOL]},
    "tool_choice": {"tools": [TOOL], "tool_choice": "none"},
    "modalities": {"modalities": ["text"]},
    "top_k": {"top_k": 5},
    "min_p": {"min_p": 0.1},
    "repetition_penalty": {"repetition_penalty": 1.1},
    "ignore_eos": {"ignore_eos": True},
    "truncate_prompt_tokens": {"truncate_prompt_tokens": -1},
    "chat_template_kwargs": {"chat_template_kwargs": {"enable_thinking": False}},
    "reasoning": {"reasoning": {"effort": "low"}},
    "repeat_penalty": {"repeat_penalty": 1.1},
    "typical_p": {"typical_p": 0.9},
    "mirostat": {"mirostat": 2},
    "mirostat_tau": {"mirostat": 2, "mirostat_tau": 4.0},
    "mirostat_eta": {"mirostat": 2, "mirostat_eta": 0.2},
    "cache_prompt": {"cache_prompt": True},
    "user": {"user": "someone"},
    "metadata": {"metadata": {"k": "v"}},
    "store": {"store": False},
    "service_tier": {"service_tier": "auto"},
    "prompt_cache_key": {"prompt_cache_key": "k"},
    "prompt_cache_retention": {"prompt_cache_retention": "24h"},
    "safety_identifier": {"safety_identifier": "s"},
    "keep_alive": {"keep_alive": "5m"},
    "options": {"options": {"num_predict": 2, "temperature": 0.2, "stop": ["\n"], "num_ctx": 4096}},
    "audio": {"audio": {"voice": "alloy", "format": "wav"}},
    "prediction": {"prediction": {"type": "content", "content": "Hello"}},
    "web_search_options": {"web_search_options": {"search_context_size": "low"}},
    "logit_bias": {"logit_bias": {"50": 1}},
    "functions": {"functions": [{"name": "f", "parameters": {"type": "object"}}]},
    "function_call": {"function_call": "auto"},
    "verbosity": {"verbosity": "low"},
}
TEXT_BASE = {"model": MODEL, "prompt": "def f():", "max_tokens": 1}
TEXT_SAMPLES = {
    "prompt": {"prompt": ["a", "b"]},
    "model": {"model": MODEL},
    "echo": {"echo": True},
    "frequency_penalty": {"frequency_penalty": 0.1},
    "presence_penalty": {"presence_penalty": 0.1},
    "logprobs": {"logprobs": 2},
    "max_tokens": {"max_tokens": 2},
    "n": {"n": 2},
    "best_of": {"n": 2, "best_of": 2},
    "seed": {"seed": 7},
    "stop": {"stop": "\n"},
    "stream": {"stream": True},
    "stream_options": {"stream": True, "stream_options": {"include_usage": True}},
    "suffix": {"suffix": "\n    return 1\n"},
    "temperature": {"temperature": 0},
    "top_p": {"top_p": 0.9},
    "fim_files": {"suffix": "\n", "fim_files": [{"path": "a.py", "content": "x = 1\n"}]},
    "top_k": {"top_k": 5},
    "min_p": {"min_p": 0.1},
    "repetition_penalty": {"repetition_penalty": 1.1},
    "ignore_eos": {"ignore_eos": True},
    "repeat_penalty": {"repeat_penalty": 1.1},
    "typical_p": {"typical_p": 0.9},
    "mirostat": {"mirostat": 1},
    "mirostat_tau": {"mirostat": 1, "mirostat_tau": 4.0},
    "mirostat_eta": {"mirostat": 1, "mirostat_eta": 0.2},
    "options": {"options": {"num_predict": 2, "repeat_penalty": 1.1}},
    "cache_prompt": {"cache_prompt": True},
    "user": {"user": "someone"},
    "metadata": {"metadata": {"k": "v"}},
    "keep_alive": {"keep_alive": "5m"},
    "logit_bias": {"logit_bias": {"50": 1}},
    "truncate_prompt_tokens": {"truncate_prompt_tokens": -1},
}



@pytest.mark.parametrize(
    "path, heading, base, samples",
    [
        ("/v1/chat/completions", "### `POST /v1/chat/completions`", CHAT_BASE, CHAT_SAMPLES),
        ("/v1/completions", "### `POST /v1/completions`", TEXT_BASE, TEXT_SAMPLES),
    ],
    ids=["chat", "completions"],
)
async def test_every_field_does_what_the_table_says(gateway, path, heading, base, samples):
    problems = await walk(gateway.url + path, base, samples, field_table(heading))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "extra, param",
    [({"temprature": 0.2}, "temprature"), ({"options": {"tfs_z": 0.9}}, "options.tfs_z")],
)
async def test_an_unknown_field_is_a_400_naming_it(gateway, extra, param):
    async with aiohttp.ClientSession() as session:
        async with session.post(gateway.url + "/v1/chat/completions", json={**CHAT_BASE, **extra}) as resp:
            assert resp.status == 400
            error = (await resp.json())["error"]
    assert error["param"] == param and error["code"] == "unsupported_field"


async def test_ollama_options_shape_the_answer(gateway):
    """twinny sends Ollama's `options` to OpenAI servers: num_predict is the output limit."""
    body = {"model": MODEL, "prompt": "def f():", "options": {"num_predict": 3, "temperature": 0}}
    async with aiohttp.ClientSession() as session:
        async with session.post(gateway.url + "/v1/completions", json=body) as resp:
            assert resp.status == 200
            usage = (await resp.json())["usage"]
    assert usage["completion_tokens"] == 3
