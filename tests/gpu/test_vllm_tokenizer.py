"""The vllm engine's tokenizer wrapper over a real Hugging Face tokenizer (SmolLM2's); no GPU needed."""
from __future__ import annotations

import asyncio
import random

import pytest

from gateway.engines.vllm.tokenizer import VllmTokenizer

from .conftest import tokenizer_dir

transformers = pytest.importorskip("transformers", reason="transformers is not installed")


@pytest.fixture(scope="module")
def hf():
    d = tokenizer_dir()
    if d is None:
        pytest.skip("no SmolLM2 tokenizer folder (set OSS_SIDECAR_TEST_TOKENIZER_DIR)")
    return transformers.AutoTokenizer.from_pretrained(str(d))


def texts(hf, n=60):
    rng = random.Random(1)
    out = [hf.decode([rng.randrange(0, hf.vocab_size) for _ in range(rng.randrange(1, 1200))]) for _ in range(n)]
    return out + ["<|im_start|>user\nhi<|im_end|>\n", "emoji 😀 and ü", "  indented\n\tcode", ""]


def test_gil_free_copy_matches_the_hugging_face_tokenizer(hf):
    tok = VllmTokenizer(hf, 4096)
    assert tok._raw_json is not None  # a fast tokenizer: the GIL-free path is used
    for t in texts(hf):
        for bos in (False, True):
            assert tok.encode_sync(t, add_bos=bos, release_gil=True) == hf.encode(t, add_special_tokens=bos)


def test_async_encode_long_and_short_text(hf):
    tok = VllmTokenizer(hf, 4096)
    long_text = "def f(x):\n    return x * 2\n" * 400

    async def go():
        return await tok.encode(long_text), await tok.encode("short <|im_end|>")

    long_ids, short_ids = asyncio.run(go())
    assert long_ids == hf.encode(long_text, add_special_tokens=False)
    assert short_ids == hf.encode("short <|im_end|>", add_special_tokens=False)
    assert hf.convert_tokens_to_ids("<|im_end|>") in short_ids


def test_chat_template_special_tokens_and_stop_ids(hf):
    tok = VllmTokenizer(hf, 4096)
    text = asyncio.run(tok.apply_chat_template([{"role": "user", "content": "Hi"}]))
    assert "Hi" in text and text.rstrip().endswith("assistant")
    specials = asyncio.run(tok.special_tokens())
    assert {"<|im_start|>", "<|im_end|>"} <= specials
    assert tok.special_token_id("<|im_end|>") == hf.convert_tokens_to_ids("<|im_end|>")
    assert tok.context_length == 4096


def test_falls_back_when_the_copy_disagrees(hf, monkeypatch):
    tok = VllmTokenizer(hf, 4096)
    monkeypatch.setattr(tok, "_raw_encode", lambda text, add_bos: (_ for _ in ()).throw(RuntimeError("x")))
    assert tok.encode_sync("hello", release_gil=True) == hf.encode("hello", add_special_tokens=False)
    assert tok._raw_json is None
