"""The o200k_base vocabulary seeded offline and verified, and the encoding's stop tokens."""
from __future__ import annotations

import hashlib

import pytest

from gateway.prompts.harmony import vocab


@pytest.fixture
def no_caches(tmp_path, monkeypatch):
    """No vocabulary cache anywhere but tmp_path (some images preset TIKTOKEN_CACHE_DIR)."""
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR", "TIKTOKEN_ENCODINGS_BASE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TIKTOKEN_RS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(vocab.tempfile, "gettempdir", lambda: str(tmp_path / "t"))
    return tmp_path


def test_vocab_cache_is_seeded_and_verified(no_caches):
    tmp_path = no_caches
    if vocab._vocab_from_packages() is None:
        pytest.skip("vocabulary comes from an existing cache, not a package")
    f = vocab.ensure_vocab()
    assert f.parent == tmp_path and f.name == hashlib.sha1(vocab.O200K_URL.encode()).hexdigest()
    assert hashlib.sha256(f.read_bytes()).hexdigest() == vocab.O200K_SHA256


def test_corrupt_cache_file_is_not_trusted(no_caches):
    tmp_path = no_caches
    (tmp_path / vocab.O200K_CACHE_NAME).write_bytes(b"x" * 2_000_000)
    if vocab._vocab_from_packages() is None:
        with pytest.raises(vocab.HarmonyUnavailable, match="pip install"):
            vocab.ensure_vocab()
    else:
        f = vocab.ensure_vocab()
        assert hashlib.sha256(f.read_bytes()).hexdigest() == vocab.O200K_SHA256


def test_missing_vocabulary_says_what_to_install(no_caches, monkeypatch):
    monkeypatch.setattr(vocab, "_vocab_from_packages", lambda: None)
    with pytest.raises(vocab.HarmonyUnavailable, match="pip install quicktok-v1"):
        vocab.ensure_vocab()


def test_stop_tokens_are_return_and_call(enc):
    stops = vocab.stop_token_ids()
    assert {enc.decode([t]) for t in stops} == {"<|return|>", "<|call|>"}
