"""Retrieval for chat: embed the question with the gateway's embedding model, take the
nearest chunks of a knowledge base, and put them in the prompt as numbered references."""
from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Optional

from gateway.errors import ApiError, bad_request
from gateway.knowledge.store import KnowledgeStore, KnowledgeUnavailable

if TYPE_CHECKING:
    from gateway.serving.embeddings import Embeddings


@dataclass
class Source:
    ref: int  # the N of [ref N]
    collection: str
    source: str  # the file's path
    chunk: int  # the chunk's number in its file
    text: str
    score: float  # cosine similarity to the question, -1..1
    page: Optional[int] = None

    def dump(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class Knowledge:
    def __init__(self, store: KnowledgeStore, embeddings: Optional["Embeddings"], max_top_k: int):
        self.store = store
        self.embeddings = embeddings
        self.max_top_k = max_top_k

    async def collections(self) -> list[dict[str, Any]]:
        """The knowledge bases a chat request can name: none without chromadb or an embedding
        model (retrieval could not use them)."""
        if self.embeddings is None:
            return []
        try:
            return await asyncio.get_running_loop().run_in_executor(None, self.store.listing)
        except KnowledgeUnavailable:
            return []

    async def retrieve(self, collection_name: str, question: str, top_k: int) -> list[Source]:
        from gateway.serving.embeddings import EmbeddingRequest

        if self.embeddings is None:
            raise bad_request("retrieval: this server has no embedding model (embeddings.enabled is false)",
                              param="retrieval")
        if top_k > self.max_top_k:
            raise bad_request(f"retrieval.top_k: at most {self.max_top_k} (setting knowledge.max_top_k)",
                              param="retrieval.top_k")
        loop = asyncio.get_running_loop()
        try:
            collection = await loop.run_in_executor(None, self.store.collection, collection_name)
        except KnowledgeUnavailable as exc:
            raise bad_request(f"retrieval: {exc}", param="retrieval") from None
        if collection is None:
            names = await loop.run_in_executor(None, self.store.names)
            raise ApiError(
                404,
                f"retrieval.collection: no knowledge base `{collection_name}`; "
                f"index one with `oss-sidecar index PATH --collection {collection_name}`"
                + (f" (there are: {', '.join(names)})" if names else ""),
                param="retrieval.collection",
                code="collection_not_found",
            )
        window = self.embeddings.model.max_input_tokens or None
        result = await self.embeddings.embed(
            EmbeddingRequest(inputs=[question], truncate_prompt_tokens=window, input_param="messages")
        )
        hits = await loop.run_in_executor(
            None,
            lambda: collection.query(
                query_embeddings=result.vectors, n_results=top_k, include=["documents", "metadatas", "distances"]
            ),
        )
        sources = []
        for i, (text, meta, distance) in enumerate(zip(hits["documents"][0], hits["metadatas"][0], hits["distances"][0])):
            sources.append(
                Source(
                    ref=i + 1,
                    collection=collection_name,
                    source=meta.get("source", ""),
                    chunk=int(meta.get("chunk", 0)),
                    text=text,
                    score=round(1.0 - float(distance), 4),
                    page=meta.get("page"),
                )
            )
        return sources
