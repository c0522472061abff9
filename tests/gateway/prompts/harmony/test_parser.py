"""Streamed gpt-oss output parsed by channel: analysis is reasoning, final is content."""
from __future__ import annotations

import random

import pytest

from gateway.prompts.harmony import parser


def _stream(enc, completion: str, step: int = 1):
    tokens = enc.encode(completion, allowed_special="all")
    p = parser.HarmonyStreamParser(enc)
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
    p = parser.HarmonyStreamParser(enc)
    text = "".join(p.feed([t])[0] for t in tokens) + p.finish()[0]
    assert text == enc.decode(tokens)
