"""The retrieval prompt: numbered references, then the question (the seed's `[ref 1] ...
question: ...`). Answers cite [ref N], which the sources returned beside the answer resolve.

The words around the references are in the question's language, so a small model answers in
it: Chinese where Han characters are at least a third of the question's letters (and no kana,
which would make it Japanese), English otherwise. A share, not a library: the question is one
message, and the two scripts do not overlap.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from gateway.knowledge.retrieval import Source


@dataclass(frozen=True)
class Wording:
    instruction: str
    page: str  # "page {n}"
    question: str  # the label before the question


WORDINGS = {
    "en": Wording(
        "Answer the question using the references below. Cite the references you use as [ref N]. "
        "If they do not contain the answer, say so.",
        "page {n}",
        "question: ",
    ),
    "zh": Wording(
        "请根据下面的参考资料用中文回答问题。引用参考资料时写 [ref N]。如果参考资料中没有答案，请直接说明。",
        "第 {n} 页",
        "问题：",
    ),
}
HAN_SHARE = 1 / 3  # of the question's letters, for Chinese


def language(question: str) -> str:
    """"zh" or "en", by the share of Han characters among the question's letters."""
    letters = han = 0
    for ch in question:
        if not ch.isalpha():
            continue
        letters += 1
        name = unicodedata.name(ch, "")
        if name.startswith(("HIRAGANA", "KATAKANA")):
            return "en"  # Japanese: no wording of its own yet
        if name.startswith("CJK UNIFIED IDEOGRAPH") or name.startswith("CJK COMPATIBILITY IDEOGRAPH"):
            han += 1
    return "zh" if letters and han / letters >= HAN_SHARE else "en"


def build_prompt(question: str, sources: list[Source]) -> str:
    words = WORDINGS[language(question)]
    parts = [words.instruction, ""]
    for s in sources:
        where = Path(s.source).name + (", " + words.page.format(n=s.page) if s.page else "")
        parts.append(f"[ref {s.ref}] ({where})\n{s.text.strip()}\n")
    parts.append(f"{words.question}{question}")
    return "\n".join(parts)
