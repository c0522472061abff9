"""The retrieval prompt speaks the question's language (English and Chinese)."""
from __future__ import annotations

import pytest

from gateway.knowledge.prompt import WORDINGS, build_prompt, language
from gateway.knowledge.retrieval import Source

SOURCES = [
    Source(ref=1, collection="docs", source="/kb/manual.pdf", chunk=0, text="  The pump runs at 40 bar. ", score=0.7, page=3),
    Source(ref=2, collection="docs", source="/kb/notes.md", chunk=2, text="Check the seal weekly.", score=0.5),
]


@pytest.mark.parametrize("question, expected", [
    ("What pressure does the pump run at?", "en"),
    ("泵的工作压力是多少？", "zh"),
    ("请解释 Kubernetes 的 Pod 是什么", "zh"),  # Han with a few Latin names
    ("What does 水泵 mean in the manual?", "en"),  # one Chinese word in an English question
    ("ポンプの圧力は何ですか", "en"),  # Japanese (kana): no wording of its own, English
    ("12345 ???", "en"),
    ("", "en"),
])
def test_language_by_the_share_of_han_characters(question, expected):
    assert language(question) == expected


def test_an_english_question_gets_the_english_prompt():
    prompt = build_prompt("What pressure?", SOURCES)
    assert prompt.startswith(WORDINGS["en"].instruction)
    assert "[ref 1] (manual.pdf, page 3)\nThe pump runs at 40 bar.\n" in prompt
    assert "[ref 2] (notes.md)\nCheck the seal weekly.\n" in prompt
    assert prompt.endswith("question: What pressure?")


def test_a_chinese_question_gets_the_chinese_prompt():
    prompt = build_prompt("泵的工作压力是多少？", SOURCES)
    assert prompt.startswith(WORDINGS["zh"].instruction)
    assert "[ref N]" in WORDINGS["zh"].instruction  # the citation form stays the same
    assert "[ref 1] (manual.pdf, 第 3 页)" in prompt
    assert prompt.endswith("问题：泵的工作压力是多少？")
    assert "Answer the question" not in prompt
