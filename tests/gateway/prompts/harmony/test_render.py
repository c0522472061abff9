"""Chat messages rendered as a gpt-oss harmony prompt; which models speak harmony."""
from __future__ import annotations

import pytest

from gateway.prompts.harmony import render


def test_render_chat_system_developer_turns_and_effort(enc):
    ids = render.render_chat(
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
    text = enc.decode(render.render_chat([{"role": "user", "content": "x"}], start_date="2026-01-02"))
    assert "<|start|>developer" not in text
    assert "Reasoning: medium" in text  # no effort asked: harmony's default


def test_bad_reasoning_effort_is_a_value_error():
    with pytest.raises(ValueError, match="reasoning_effort"):
        render.render_chat([{"role": "user", "content": "x"}], reasoning_effort="max")


def test_is_harmony_model():
    assert render.is_harmony_model({"model_type": "gpt_oss"})
    assert not render.is_harmony_model({"model_type": "llama"})
    assert render.is_harmony_model(model_type="gpt_oss")
