"""The harmony tests need openai-harmony and an offline o200k_base vocabulary; without either,
every test here skips and says which is missing."""
from __future__ import annotations

import importlib.util

import pytest

from gateway.prompts.harmony import vocab


def _skip_reason() -> str | None:
    if importlib.util.find_spec("openai_harmony") is None:
        return "openai-harmony is not installed (pip install openai-harmony)"
    if vocab._vocab_from_packages() is None and not any(
            (d / vocab.O200K_CACHE_NAME).is_file() for d in vocab._cache_dirs()):
        return "no offline o200k_base vocabulary (pip install quicktok-v1)"
    return None


SKIP_REASON = _skip_reason()


@pytest.fixture(autouse=True)
def _harmony_available():
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)


@pytest.fixture(scope="module")
def enc():
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    return vocab.get_encoding()
