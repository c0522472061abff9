"""POST /tokenize and POST /detokenize in vLLM's shapes, on the embedded default model: counts
agree with what a chat or completion request is billed, ids round-trip, and bad input is a 400
in OpenAI's error body (never the engine's 500)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

openai = pytest.importorskip("openai")

KEY = "tokenize-key"
MODEL = "SmolLM2-135M-Instruct.Q4_1"


@pytest.fixture(scope="module")
def gw(start_gateway):
    # Behind a key: /tokenize is outside /v1/ and must be guarded all the same.
    return start_gateway("--api-key", KEY)


def post(gw, path: str, body: dict, key: str | None = KEY) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(gw.url + path, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def client(gw):
    return openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0, timeout=120)


def test_prompt_count_is_what_a_completion_is_billed(gw, client):
    prompt = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n# 你好 😀"
    status, out = post(gw, "/tokenize", {"model": MODEL, "prompt": prompt})
    assert status == 200, out
    assert set(out) == {"count", "max_model_len", "tokens"}
    assert out["count"] == len(out["tokens"]) > 10
    assert out["max_model_len"] == client.models.list().data[0].model_extra["max_model_len"]
    billed = client.completions.create(model=MODEL, prompt=prompt, max_tokens=1).usage.prompt_tokens
    assert out["count"] == billed


def test_chat_count_is_what_a_chat_is_billed(gw, client):
    messages = [{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "What is 2 + 2?"}]
    status, out = post(gw, "/tokenize", {"messages": messages, "add_generation_prompt": True})
    assert status == 200, out
    billed = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=1).usage.prompt_tokens
    assert out["count"] == billed


def test_detokenize_round_trips_with_special_tokens(gw):
    text = "<|im_start|>user\nHello, world! ü<|im_end|>"
    _, out = post(gw, "/tokenize", {"prompt": text, "add_special_tokens": False, "return_token_strs": True})
    assert out["token_strs"][0] == "<|im_start|>" and out["token_strs"][-1] == "<|im_end|>"
    assert len(out["token_strs"]) == out["count"]
    status, back = post(gw, "/detokenize", {"model": MODEL, "tokens": out["tokens"]})
    assert status == 200, back
    assert back == {"prompt": text}


def test_the_reference_tokenizer_agrees(gw):
    tokenizers = pytest.importorskip("tokenizers")
    from tests.gateway.engines.test_upstream import TOKENIZER

    if TOKENIZER is None:
        pytest.skip("no SmolLM2 tokenizer.json (shared/device/tokenizer-smollm2)")
    ref = tokenizers.Tokenizer.from_file(str(TOKENIZER / "tokenizer.json"))
    text = "The quick brown fox\n\tjumps over 13 lazy dogs. 日本語"
    _, out = post(gw, "/tokenize", {"prompt": text})
    assert out["tokens"] == ref.encode(text, add_special_tokens=True).ids


@pytest.mark.parametrize("path, body, param", [
    ("/tokenize", {"prompt": 3}, "prompt"),
    ("/tokenize", {}, "prompt"),
    ("/tokenize", {"prompt": "x", "suffix": "y"}, "suffix"),
    ("/tokenize", {"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ("/tokenize", {"messages": [{"role": "user", "content": "x"}], "add_generation_prompt": False},
     "add_generation_prompt"),
    ("/tokenize", {"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}, "tools"),
    ("/detokenize", {"tokens": [1, 10**9]}, "tokens"),
    ("/detokenize", {"tokens": [-1]}, "tokens"),
    ("/detokenize", {"tokens": ["a"]}, "tokens[0]"),
])
def test_bad_input_is_a_400_naming_the_field(gw, path, body, param):
    status, out = post(gw, path, body)
    assert status == 400, out
    assert out["error"]["param"] == param, out
    assert out["error"]["type"] == "invalid_request_error"


def test_unknown_model_is_a_404(gw):
    status, out = post(gw, "/detokenize", {"model": "gpt-4o", "tokens": [1]})
    assert status == 404 and out["error"]["code"] == "model_not_found"


def test_the_api_key_guards_both(gw):
    for path, body in (("/tokenize", {"prompt": "x"}), ("/detokenize", {"tokens": [1]})):
        status, out = post(gw, path, body, key=None)
        assert status == 401 and out["error"]["code"] == "invalid_api_key"


def test_a_call_without_arguments_in_the_history_is_counted_and_answered(gw, client):
    """Empty `arguments` is a call without arguments (llama.cpp's template code fails on an empty
    text; the fuzz run found it through chat)."""
    messages = [{"role": "user", "content": "What time is it?"},
                {"role": "assistant", "content": None,
                 "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "now", "arguments": ""}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "12:00"}]
    status, out = post(gw, "/tokenize", {"messages": messages})
    assert status == 200, out
    answer = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=1)
    assert answer.usage.prompt_tokens == out["count"]


def get(gw, path: str, key: str | None = KEY) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(gw.url + path, headers=headers), timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_tokenizer_info_reports_the_special_tokens_and_the_template_chat_is_rendered_with(gw):
    status, info = get(gw, "/tokenizer_info")
    assert status == 200
    assert info["tokenizer_class"] and info["model_max_length"] > 0
    # SmolLM2's: the template's own markers, as lm-evaluation-harness's remote tokenizer reads them.
    assert info["eos_token"] == "<|im_end|>"
    assert "<|im_start|>" in info["chat_template"]
    status, out = get(gw, "/tokenizer_info", key=None)
    assert status == 401 and out["error"]["code"] == "invalid_api_key"
