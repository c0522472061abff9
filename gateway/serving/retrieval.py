"""Retrieval-augmented chat in the serving core: a ChatRequest that names a knowledge base
gets its last user message replaced by the references-and-question prompt."""
from __future__ import annotations

import dataclasses
from typing import Optional

from gateway.errors import bad_request
from gateway.knowledge.prompt import build_prompt
from gateway.knowledge.retrieval import Knowledge, Source
from gateway.serving.requests import ChatRequest


async def augment(knowledge: Optional[Knowledge], req: ChatRequest) -> tuple[ChatRequest, list[Source]]:
    assert req.retrieval is not None
    if knowledge is None:
        raise bad_request("retrieval: this server has no knowledge base", param="retrieval")
    last = next((i for i in range(len(req.messages) - 1, -1, -1) if req.messages[i].get("role") == "user"), None)
    if last is None or not str(req.messages[last].get("content") or "").strip():
        raise bad_request("retrieval: needs a user message to search with", param="retrieval")
    question = str(req.messages[last]["content"])
    sources = await knowledge.retrieve(req.retrieval.collection, question, req.retrieval.top_k)
    messages = list(req.messages)
    messages[last] = {**messages[last], "content": build_prompt(question, sources)}
    return dataclasses.replace(req, messages=messages), sources
