"""gpt-oss harmony format: offline vocabulary, prompt rendering, streamed channel parsing."""
from __future__ import annotations

import hashlib
import random

import pytest

pytest.importorskip("openai_harmony", reason="openai-harmony is not installed (pip install openai-harmony)")

from gateway.prompts import harmony  # noqa: E402

if harmony._vocab_from_packages() is None and not any(
        (d / harmony.O200K_CACHE_NAME).is_file() for d in harmony._cache_dirs()):
    pytest.skip("no offline o200k_base vocabulary (pip install quicktok-v1)", allow_module_level=True)


@pytest.fixture(scope="module")
def enc(tmp_path_factory):
    return harmony.get_encoding()


@pytest.fixture
def no_caches(tmp_path, monkeypatch):
    """No vocabulary cache anywhere but tmp_path (some images preset TIKTOKEN_CACHE_DIR)."""
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR", "TIKTOKEN_ENCODINGS_BASE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TIKTOKEN_RS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(harmony.tempfile, "gettempdir", lambda: str(tmp_path / "t"))
    return tmp_path


def test_vocab_cache_is_seeded_and_verified(no_caches):
    tmp_path = no_caches
    if harmony._vocab_from_packages() is None:
        pytest.skip("vocabulary comes from an existing cache, not a package")
    f = harmony.ensure_vocab()
    assert f.parent == tmp_path and f.name == hashlib.sha1(harmony.O200K_URL.encode()).hexdigest()
    assert hashlib.sha256(f.read_bytes()).hexdigest() == harmony.O200K_SHA256


def test_corrupt_cache_file_is_not_trusted(no_caches):
    tmp_path = no_caches
    (tmp_path / harmony.O200K_CACHE_NAME).write_bytes(b"x" * 2_000_000)
    if harmony._vocab_from_packages() is None:
        with pytest.raises(harmony.HarmonyUnavailable, match="pip install"):
            harmony.ensure_vocab()
    else:
        f = harmony.ensure_vocab()
        assert hashlib.sha256(f.read_bytes()).hexdigest() == harmony.O200K_SHA256


def test_missing_vocabulary_says_what_to_install(no_caches, monkeypatch):
    monkeypatch.setattr(harmony, "_vocab_from_packages", lambda: None)
    with pytest.raises(harmony.HarmonyUnavailable, match="pip install quicktok-v1"):
        harmony.ensure_vocab()


def test_render_chat_system_developer_turns_and_effort(enc):
    ids = harmony.render_chat(
        [{"role": "system", "content": "Be brief."},
         {"role": "user", "content": "Hi"},
         {"role": "assistant", "content": "Hello!"},
         {"role": "user", "content": [{"type": "text", "text": "Again?"}]}],
        reasoning_effort="HIGH", start_date="2026-01-02")
    text = enc.decode(ids)
    assert text.startswith("<|start|>system<|message|>")
    assert "Reasoning: high" in text and "Current date: 2026-01-02" in text
    assert "<|start|>developer<|message|># Instructions\n\nBe brief.<|end|>" in text
    assert "<|start|>assistant<|channel|>final<|message|>Hello!<|end|>" in text
    assert text.endswith("<|start|>user<|message|>Again?<|end|><|start|>assistant")


def test_render_chat_without_system_has_no_developer_message(enc):
    text = enc.decode(harmony.render_chat([{"role": "user", "content": "x"}], start_date="2026-01-02"))
    assert "<|start|>developer" not in text
    assert "Reasoning: medium" in text  # no effort asked: harmony's default


def test_bad_reasoning_effort_is_a_value_error():
    with pytest.raises(ValueError, match="reasoning_effort"):
        harmony.render_chat([{"role": "user", "content": "x"}], reasoning_effort="max")


def test_stop_tokens_are_return_and_call(enc):
    stops = harmony.stop_token_ids()
    assert {enc.decode([t]) for t in stops} == {"<|return|>", "<|call|>"}


def _stream(enc, completion: str, step: int = 1):
    tokens = enc.encode(completion, allowed_special="all")
    p = harmony.HarmonyStreamParser(enc)
    text, reasoning, chunks = "", "", []
    for i in range(0, len(tokens), step):
        t, r = p.feed(tokens[i:i + step])
        text, reasoning = text + t, reasoning + r
        chunks.append((t, r))
    t, r = p.finish()
    return text + t, reasoning + r, chunks


@pytest.mark.parametrize("step", [1, 3, 1000])
def test_analysis_is_reasoning_final_is_content(enc, step):
    out = ("<|channel|>analysis<|message|>The user greets; answer with é.<|end|>"
           "<|start|>assistant<|channel|>final<|message|>Héllo, wörld!<|return|>")
    text, reasoning, chunks = _stream(enc, out, step)
    assert reasoning == "The user greets; answer with é."
    assert text == "Héllo, wörld!"
    if step == 1:  # streamed: reasoning pieces arrive before any content
        first_text = next(i for i, (t, _) in enumerate(chunks) if t)
        assert all(not r for _, r in chunks[first_text:])
        assert sum(1 for _, r in chunks if r) > 3


def test_final_only_answer(enc):
    text, reasoning, _ = _stream(enc, "<|channel|>final<|message|>42<|return|>")
    assert (text, reasoning) == ("42", "")


def test_tool_call_commentary_is_not_content(enc):
    out = ('<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary '
           'to=functions.get_weather <|constrain|>json<|message|>{"city":"Oslo"}<|call|>')
    text, reasoning, _ = _stream(enc, out)
    assert reasoning == "Need weather." and text == ""


def test_non_harmony_output_is_shown_raw(enc):
    rng = random.Random(0)
    tokens = [rng.randrange(1000, 190000) for _ in range(120)]
    p = harmony.HarmonyStreamParser(enc)
    text = "".join(p.feed([t])[0] for t in tokens) + p.finish()[0]
    assert text == enc.decode(tokens)


def test_is_harmony_model():
    assert harmony.is_harmony_model({"model_type": "gpt_oss"})
    assert not harmony.is_harmony_model({"model_type": "llama"})
    assert harmony.is_harmony_model(model_type="gpt_oss")
