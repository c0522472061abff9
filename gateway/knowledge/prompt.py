"""The retrieval prompt: numbered references, then the question (the seed's `[ref 1] ...
question: ...`). Answers cite [ref N], which the sources returned beside the answer resolve."""
from __future__ import annotations

from pathlib import Path

from gateway.knowledge.retrieval import Source

INSTRUCTION = (
    "Answer the question using the references below. Cite the references you use as [ref N]. "
    "If they do not contain the answer, say so."
)


def build_prompt(question: str, sources: list[Source]) -> str:
    parts = [INSTRUCTION, ""]
    for s in sources:
        where = Path(s.source).name + (f", page {s.page}" if s.page else "")
        parts.append(f"[ref {s.ref}] ({where})\n{s.text.strip()}\n")
    parts.append(f"question: {question}")
    return "\n".join(parts)
