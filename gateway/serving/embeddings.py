"""Embeddings in the serving core: the wire-neutral request, the checks that need the model
(ready, name, batch size, window, dimensions), admission, and accounting.

A wire module decodes its request into an EmbeddingRequest and awaits `Embeddings.embed`;
errors are ApiError, raised before any work when they are the client's.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, AsyncIterator, Optional, Union

from gateway.admission import Admission, Overloaded
from gateway.embeddings import cl100k
from gateway.embeddings.base import EmbeddingInputError, EmbeddingModel
from gateway.engines.base import EngineError
from gateway.errors import ApiError, bad_request

if TYPE_CHECKING:
    from gateway.settings import Settings
    from gateway.telemetry import Metrics

log = logging.getLogger(__name__)


@dataclass
class EmbeddingRequest:
    # Texts, or token ids of texts: OpenAI's cl100k_base ids, or with embeddings.token_ids:
    # model the model's own without its special tokens (added here, as the tokenizer adds them).
    inputs: list[Union[str, list[int]]]
    model: Optional[str] = None
    dimensions: Optional[int] = None
    # Keep the first N tokens of a longer input (special tokens included) instead of a 400.
    truncate_prompt_tokens: Optional[int] = None
    # The wire field names, for error messages.
    input_param: str = "input"
    truncate_hint: str = "set truncate_prompt_tokens to keep the first tokens"


@dataclass
class EmbeddingResult:
    vectors: list[list[float]]
    prompt_tokens: int


@dataclass
class EmbeddingCounters:
    requests_total: int = 0
    inputs_total: int = 0
    prompt_tokens_total: int = 0
    seconds_total: float = 0.0
    last: Optional[dict] = None


class Embeddings:
    def __init__(self, settings: "Settings", model: EmbeddingModel, metrics: "Metrics"):
        self.settings = settings
        self.model = model
        self.metrics = metrics
        self.status = "loading"  # loading | ready | failed
        self.counters = EmbeddingCounters()
        # One request embeds at a time (its batches fill the runtime); others queue, as for chat.
        self.admission = Admission(
            1, settings.admission.max_queue, settings.admission.queue_timeout_s, settings.admission.retry_after_s
        )

    @property
    def served_model_name(self) -> str:
        return self.model.model_name

    def check_ready(self) -> None:
        if self.status != "ready":
            message = {
                "loading": "the embedding model is still loading; retry in a few seconds",
                "failed": "the embedding model failed to load; see the server log",
            }[self.status]
            raise ApiError(503, message, type="service_unavailable", code=self.status, headers={"Retry-After": "2"})

    def check_model(self, name: Optional[str]) -> None:
        # Ollama's `:latest` tag names the same model (Ollama's /v1 routes take it).
        if name is not None and name.removesuffix(":latest") != self.served_model_name:
            raise ApiError(
                404,
                f"The model `{name}` does not exist or is not an embedding model. This server embeds with "
                f"`{self.served_model_name}` (see GET /v1/models).",
                param="model",
                code="model_not_found",
            )

    async def embed(self, req: EmbeddingRequest) -> EmbeddingResult:
        self.check_ready()
        self.check_model(req.model)
        self._check_request(req)
        token_lists = await self._tokens(self._openai_ids_as_text(req))
        t0 = time.perf_counter()
        async with self._admitted():
            try:
                vectors = await self.model.embed(token_lists)
            except EmbeddingInputError as exc:
                raise bad_request(str(exc), param=req.input_param) from None
            except EngineError as exc:  # the client gets a 500; the operator needs the cause
                log.error("embeddings: the model failed on %d input(s): %s", len(token_lists), exc)
                raise ApiError(500, str(exc), type="server_error") from None
        if req.dimensions is not None and req.dimensions != self.model.dimensions:
            vectors = [_shorten(v, req.dimensions) for v in vectors]
        self._record(len(token_lists), sum(map(len, token_lists)), time.perf_counter() - t0)
        return EmbeddingResult(vectors, sum(map(len, token_lists)))

    def _check_request(self, req: EmbeddingRequest) -> None:
        limit = self.settings.embeddings.max_batch
        if not req.inputs:
            raise bad_request(f"{req.input_param}: give at least one input", param=req.input_param)
        if len(req.inputs) > limit:
            raise bad_request(
                f"{req.input_param}: {len(req.inputs)} inputs in one request; this server takes at most {limit} "
                "(setting embeddings.max_batch)",
                param=req.input_param,
            )
        dims = req.dimensions
        if dims is not None and dims != self.model.dimensions:
            if not self.settings.embeddings.matryoshka:
                raise bad_request(
                    f"dimensions: `{self.served_model_name}` makes {self.model.dimensions}-dimensional vectors and "
                    "cannot shorten them (it is not a Matryoshka model); leave dimensions out",
                    param="dimensions",
                )
            if not 1 <= dims <= self.model.dimensions:
                raise bad_request(f"dimensions: must be between 1 and {self.model.dimensions}", param="dimensions")
        window = self.model.max_input_tokens
        if req.truncate_prompt_tokens is not None and req.truncate_prompt_tokens > window:
            raise bad_request(
                f"truncate_prompt_tokens: {req.truncate_prompt_tokens} is beyond the model's window of {window} tokens",
                param="truncate_prompt_tokens",
            )
        size, vocabulary = self.model.vocab_size, "the model's vocabulary"
        if self.settings.embeddings.token_ids == "cl100k" and any(isinstance(item, list) for item in req.inputs):
            try:
                size, vocabulary = len(cl100k.pieces()), "OpenAI's cl100k_base (setting embeddings.token_ids)"
            except cl100k.Cl100kUnavailable as exc:
                raise bad_request(f"{req.input_param}: {exc}; or send the text", param=req.input_param) from None
        for i, item in enumerate(req.inputs):
            if isinstance(item, list):
                bad = next((t for t in item if not 0 <= t < size), None)
                if bad is not None:
                    raise bad_request(
                        f"{req.input_param}[{i}]: token id {bad} is outside {vocabulary} (0..{size - 1})",
                        param=req.input_param,
                    )

    def _openai_ids_as_text(self, req: EmbeddingRequest) -> EmbeddingRequest:
        """Token ids as OpenAI's endpoint reads them (cl100k_base, what clients written for it
        compute with tiktoken) become their text, embedded with the model's own tokenizer."""
        if self.settings.embeddings.token_ids != "cl100k" or all(isinstance(item, str) for item in req.inputs):
            return req
        texts = [cl100k.decode(item) if isinstance(item, list) else item for item in req.inputs]
        return dataclasses.replace(req, inputs=texts)

    async def _tokens(self, req: EmbeddingRequest) -> list[list[int]]:
        texts = [(i, item) for i, item in enumerate(req.inputs) if isinstance(item, str)]
        encoded = dict(zip((i for i, _ in texts), await self.model.tokenize([t for _, t in texts]))) if texts else {}
        prefix, suffix = self.model.prefix_tokens, self.model.suffix_tokens
        window = req.truncate_prompt_tokens or self.model.max_input_tokens
        out = []
        for i, item in enumerate(req.inputs):
            tokens = encoded[i] if isinstance(item, str) else [*prefix, *item, *suffix]
            if len(tokens) > window:
                if req.truncate_prompt_tokens is None:
                    raise bad_request(
                        f"{req.input_param}[{i}] has {len(tokens)} tokens; this model takes at most "
                        f"{self.model.max_input_tokens}. Shorten it, or {req.truncate_hint}",
                        param=req.input_param,
                        code="context_length_exceeded",
                    )
                body = tokens[len(prefix) : len(tokens) - len(suffix)]
                tokens = [*prefix, *body[: max(window - len(prefix) - len(suffix), 0)], *suffix]
            out.append(tokens)
        return out

    @contextlib.asynccontextmanager
    async def _admitted(self) -> AsyncIterator[None]:
        try:
            async with self.admission.slot():
                yield
        except Overloaded as exc:
            self.metrics.rejected.inc()
            raise ApiError(
                429, str(exc), type="rate_limit_error", code="server_overloaded",
                headers={"Retry-After": str(exc.retry_after_s)},
            ) from None

    def _record(self, inputs: int, tokens: int, seconds: float) -> None:
        c = self.counters
        c.requests_total += 1
        c.inputs_total += inputs
        c.prompt_tokens_total += tokens
        c.seconds_total += seconds
        c.last = {"inputs": inputs, "prompt_tokens": tokens, "ms": round(seconds * 1000, 1),
                  "inputs_per_second": round(inputs / seconds, 1) if seconds > 0 else None}
        self.metrics.embedding_requests.inc()
        self.metrics.embedding_inputs.inc(inputs)
        self.metrics.embedding_tokens.inc(tokens)
        self.metrics.embedding_duration.observe(seconds)


def _shorten(vector: list[float], dims: int) -> list[float]:
    """A Matryoshka model's vector cut to its first `dims` values and normalised again."""
    head = vector[:dims]
    norm = math.sqrt(sum(x * x for x in head)) or 1.0
    return [x / norm for x in head]
