"""Pydantic models of the OpenAI wire format: requests (with the vLLM extras we accept), their
decoding into the serving core's neutral requests, and the responses, stream chunks and error
bodies, as vLLM's entrypoints/openai/protocol.py keeps them together.

Unknown request fields are ignored, not rejected: clients send many (user, logit_bias, tools, ...).
Out-of-range values are rejected with the field named, as OpenAI and vLLM do. Responses are
dumped with exclude_unset (as vLLM does): a field appears when it was given, so optional
fields such as `reasoning_content` are left out unless there is some.
"""
from __future__ import annotations

import json
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.engines.base import SamplingParams
from gateway.errors import ApiError
from gateway.serving import ChatRequest, Retrieval, TextRequest, Usage
from gateway.serving.embeddings import EmbeddingRequest

# Upper bound on choices per request: n fans out to that many engine sequences.
MAX_N = 16
# Every integer field is bounded: engines keep token counts in 32-bit integers and seeds in
# 64 bits, and a larger number must be a 400 naming the field, never an engine error.
INT32_MAX = 2**31 - 1
SEED_RANGE = dict(ge=-(2**63), le=2**64 - 1)


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class StreamOptions(_Wire):
    include_usage: bool = False
    continuous_usage_stats: bool = False


class TextPart(_Wire):
    type: Literal["text"]
    text: str


class ChatMessage(_Wire):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[str, list[TextPart], None] = None
    name: Optional[str] = None
    reasoning_content: Optional[str] = None

    @field_validator("content", mode="before")
    @classmethod
    def _only_text_parts(cls, value: Any) -> Any:
        if isinstance(value, list):
            for i, part in enumerate(value):
                kind = part.get("type") if isinstance(part, dict) else None
                if kind != "text":
                    raise ValueError(f"content part {i} has type {kind!r}; this model accepts only 'text' parts")
        return value

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class _SamplingFields(_Wire):
    model: Optional[str] = None
    temperature: Optional[float] = Field(None, ge=0, le=2)
    top_p: Optional[float] = Field(None, gt=0, le=1)
    top_k: Optional[int] = Field(None, ge=-1, le=INT32_MAX)
    min_p: Optional[float] = Field(None, ge=0, le=1)
    repetition_penalty: Optional[float] = Field(None, gt=0, le=10)
    presence_penalty: Optional[float] = Field(None, ge=-2, le=2)
    frequency_penalty: Optional[float] = Field(None, ge=-2, le=2)
    seed: Optional[int] = Field(None, **SEED_RANGE)
    stop: Union[str, list[str], None] = None
    max_tokens: Optional[int] = Field(None, ge=1, le=INT32_MAX)
    n: int = Field(1, ge=1, le=MAX_N)
    stream: bool = False
    stream_options: Optional[StreamOptions] = None
    ignore_eos: bool = False
    # vLLM's: keep only the last N prompt tokens. Here -1 means the configured history window.
    truncate_prompt_tokens: Optional[int] = Field(None, ge=-1, le=INT32_MAX)

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, value: Union[str, list[str], None]) -> Union[str, list[str], None]:
        if isinstance(value, list) and any(s == "" for s in value):
            raise ValueError("stop sequences must not be empty strings")
        return value

    @field_validator("truncate_prompt_tokens")
    @classmethod
    def _truncate_not_zero(cls, value: Optional[int]) -> Optional[int]:
        if value == 0:
            raise ValueError("must be -1 (the configured history window) or a positive number of tokens")
        return value

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def sampling(self, max_tokens: Optional[int]) -> SamplingParams:
        return SamplingParams(
            max_tokens=max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            min_p=self.min_p,
            repetition_penalty=self.repetition_penalty,
            presence_penalty=self.presence_penalty,
            frequency_penalty=self.frequency_penalty,
            seed=self.seed,
            stop=self.stop_list(),
        )

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_SamplingFields):
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_completion_tokens: Optional[int] = Field(None, ge=1, le=INT32_MAX)
    reasoning_effort: Optional[Literal["low", "medium", "high"]] = None
    # Beyond OpenAI (docs/PROTOCOL.md): answer from a knowledge base.
    retrieval: Optional["RetrievalOption"] = None

    def to_serving(self) -> ChatRequest:
        return ChatRequest(
            messages=[
                {"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in self.messages
            ],
            sampling=self.sampling(self.max_completion_tokens or self.max_tokens),
            model=self.model,
            n=self.n,
            history_window=self.truncate_prompt_tokens,
            reasoning_effort=self.reasoning_effort,
            ignore_eos=self.ignore_eos,
            limit_param="max_completion_tokens" if self.max_completion_tokens else "max_tokens",
            retrieval=Retrieval(self.retrieval.collection, self.retrieval.top_k) if self.retrieval else None,
        )


class FimFile(_Wire):
    path: str
    content: str


class CompletionRequest(_SamplingFields):
    prompt: Union[str, list[str]]
    # OpenAI's and vLLM's default for /v1/completions: a client that sends no limit gets a short answer.
    max_tokens: Optional[int] = Field(16, ge=1, le=INT32_MAX)
    suffix: Optional[str] = None
    echo: bool = False
    fim_files: list[FimFile] = Field(default_factory=list)

    @field_validator("prompt", mode="before")
    @classmethod
    def _text_prompts(cls, value: Any) -> Any:
        if isinstance(value, list) and value and not all(isinstance(p, str) for p in value):
            raise ValueError("give the prompt as text (a string or a list of strings); token ids are not accepted")
        return value

    @model_validator(mode="after")
    def _echo_without_suffix(self) -> "CompletionRequest":
        if self.echo and self.suffix is not None:
            raise ValueError("echo: cannot be combined with suffix")
        return self

    def to_serving(self) -> TextRequest:
        return TextRequest(
            prompts=[self.prompt] if isinstance(self.prompt, str) else list(self.prompt),
            sampling=self.sampling(self.max_tokens),
            model=self.model,
            n=self.n,
            suffix=self.suffix,
            files=[(f.path, f.content) for f in self.fim_files],
            echo=self.echo,
            ignore_eos=self.ignore_eos,
        )


# ---- responses ----------------------------------------------------------------------------
class _Out(BaseModel):
    def dump(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class PromptTokensDetails(_Out):
    cached_tokens: int


class UsageInfo(_Out):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails

    @classmethod
    def of(cls, usage: Usage) -> "UsageInfo":
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
            prompt_tokens_details=PromptTokensDetails(cached_tokens=usage.cached_tokens),
        )


class DeltaMessage(_Out):
    role: Optional[Literal["assistant"]] = None
    content: Optional[str] = None
    reasoning_content: Optional[str] = None


class ChunkChoice(_Out):
    index: int
    delta: DeltaMessage
    logprobs: None
    finish_reason: Optional[str]


class ChatCompletionChunk(_Out):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Optional[UsageInfo] = None
    sources: Optional[list[dict[str, Any]]] = None  # retrieval: the first chunk's


class AssistantMessage(_Out):
    role: Literal["assistant"]
    content: str
    reasoning_content: Optional[str] = None


class ChatChoice(_Out):
    index: int
    message: AssistantMessage
    logprobs: None
    finish_reason: Optional[str]


class ChatCompletionResponse(_Out):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: UsageInfo
    sources: Optional[list[dict[str, Any]]] = None  # retrieval: the chunks [ref N] cites


class CompletionChoice(_Out):
    index: int
    text: str
    logprobs: None
    finish_reason: Optional[str]


class CompletionChunk(_Out):
    """A stream chunk of /v1/completions; the non-stream answer has the same shape."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Optional[UsageInfo] = None


CompletionResponse = CompletionChunk


class ModelCard(_Out):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    # Beyond OpenAI (docs/PROTOCOL.md): the context length and the FIM template family.
    max_model_len: Optional[int]
    fim_family: Optional[str]
    fim_supports_files: bool


class ModelList(_Out):
    object: Literal["list"]
    data: list[ModelCard]


# ---- errors -------------------------------------------------------------------------------
def error_body(exc: ApiError) -> dict[str, Any]:
    return {"error": {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.code}}


def error_event(exc: ApiError) -> bytes:
    """An error after the stream's headers went out, as one more SSE event."""
    return f"data: {json.dumps(error_body(exc))}\n\n".encode()


# ---- embeddings (/v1/embeddings) ----------------------------------------------------------
class EmbeddingCreateRequest(_Wire):
    """OpenAI's embeddings request, with vLLM's truncate_prompt_tokens."""

    input: Union[str, list[str], list[int], list[list[int]]]
    model: Optional[str] = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Optional[int] = Field(None, ge=1)
    truncate_prompt_tokens: Optional[int] = Field(None, ge=1)

    @field_validator("input", mode="before")
    @classmethod
    def _input_shape(cls, value: Any) -> Any:
        # Checked by hand: pydantic's union would turn ["1"] into token 1.
        def ids(items: Any) -> bool:
            return isinstance(items, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in items)

        ok = isinstance(value, str) or (
            isinstance(value, list)
            and value != []
            and (all(isinstance(v, str) for v in value) or ids(value) or all(ids(v) for v in value))
        )
        if not ok:
            raise ValueError(
                "must be a string, a non-empty list of strings, a list of token ids, or a list of token-id lists"
            )
        return value

    def to_serving(self) -> EmbeddingRequest:
        value = self.input
        if isinstance(value, str):
            inputs: list = [value]
        elif value and all(isinstance(v, int) for v in value):
            inputs = [list(value)]  # one input given as token ids
        else:
            inputs = list(value)
        return EmbeddingRequest(
            inputs=inputs, model=self.model, dimensions=self.dimensions,
            truncate_prompt_tokens=self.truncate_prompt_tokens,
        )


class EmbeddingData(_Out):
    object: Literal["embedding"]
    index: int
    embedding: Union[list[float], str]  # str: base64 of little-endian float32


class EmbeddingUsage(_Out):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(_Out):
    object: Literal["list"]
    data: list[EmbeddingData]
    model: str
    usage: EmbeddingUsage


class EmbeddingModelCard(ModelCard):
    # Beyond OpenAI (docs/PROTOCOL.md): the vector size of an embedding model.
    dimensions: int


# ---- retrieval (the knowledge base; docs/PROTOCOL.md) -------------------------------------
class RetrievalOption(_Wire):
    collection: str = Field(..., min_length=1)
    top_k: int = Field(4, ge=1)


ChatCompletionRequest.model_rebuild()
