"""Pydantic models of the OpenAI wire format: requests (with the vLLM extras we accept), their
decoding into the serving core's neutral requests, and the responses, stream chunks and error
bodies, as vLLM's entrypoints/openai/protocol.py keeps them together.

Every request field either works, is one of the few that cannot change the output and is
accepted and ignored (IGNORED_FIELDS: user, metadata, ...), or is a 400 naming it (REJECTED_FIELDS,
and any field this server does not know); docs/PROTOCOL.md has the table, and a test walks it.
Out-of-range values are rejected with the field named, as OpenAI and vLLM do. Responses are
dumped with exclude_unset (as vLLM does): a field appears when it was given, so optional
fields such as `reasoning_content` are left out unless there is some.
"""
from __future__ import annotations

import json
from typing import Any, Literal, Optional, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.api.json_schema import check_schema
from gateway.api.message_order import check_message_order
from gateway.api.request_fields import check_fields
from gateway.engines.base import ResponseFormat as NeutralResponseFormat
from gateway.engines.base import SamplingParams, TokenLogprob, ToolChoice
from gateway.errors import ApiError, bad_request
from gateway.serving import ChatRequest, ChoiceResult, Retrieval, TextRequest, ToolCall, Usage
from gateway.serving.embeddings import EmbeddingRequest

# Upper bound on choices per request: n fans out to that many engine sequences.
MAX_N = 16
# Every integer field is bounded: engines keep token counts in 32-bit integers and seeds in
# 64 bits, and a larger number must be a 400 naming the field, never an engine error.
INT32_MAX = 2**31 - 1
SEED_RANGE = dict(ge=-(2**63), le=2**64 - 1)


# Accepted and ignored: they cannot change what the model writes. (`keep_alive`: Ollama's model
# unload timer, sent by clients that speak Ollama's dialect to any server; `cache_prompt`:
# llama.cpp's server's prompt-cache hint, which the engines follow by themselves.)
IGNORED_FIELDS = frozenset(
    {"user", "metadata", "store", "service_tier", "prompt_cache_key", "prompt_cache_retention", "safety_identifier",
     "keep_alive", "cache_prompt"}
)
# Ollama's `options` some clients send to OpenAI servers (twinny): the ones that shape the answer
# map to our fields; resource options cannot change the answer and are ignored; others are a 400.
OLLAMA_OPTIONS = {
    "num_predict": "max_tokens", "temperature": "temperature", "top_p": "top_p", "top_k": "top_k",
    "min_p": "min_p", "repeat_penalty": "repetition_penalty", "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty", "seed": "seed", "stop": "stop", "typical_p": "typical_p",
    "mirostat": "mirostat", "mirostat_tau": "mirostat_tau", "mirostat_eta": "mirostat_eta",
}
# llama.cpp's server's names for fields that have an OpenAI/vLLM name here; the latter wins.
LLAMACPP_NAMES = {"repeat_penalty": "repetition_penalty"}
OLLAMA_RESOURCE_OPTIONS = frozenset(
    {"num_ctx", "num_batch", "num_gpu", "main_gpu", "num_thread", "use_mmap", "use_mlock", "low_vram", "numa"}
)
# Would change the output, and this server cannot do them: a 400 naming the field (a null, as
# some clients send for unset fields, is the same as absent).
REJECTED_FIELDS = {
    "audio": "audio output is not supported; this server writes text",
    "prediction": "predicted outputs are not supported",
    "web_search_options": "web search is not supported",
    "logit_bias": "logit_bias is not supported",
    "functions": "the deprecated `functions` is not supported; send `tools`",
    "function_call": "the deprecated `function_call` is not supported; send `tool_choice`",
    "verbosity": "verbosity is not supported",
}


def _nullable(field: Any) -> bool:
    annotation = field.annotation
    return annotation is Any or type(None) in get_args(annotation)


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _nulls_as_absent(cls, data: Any) -> Any:
        """OpenAI takes null for every optional field (`n: null`, `stream: null`): a null where
        this model has a non-null default means that default."""
        if isinstance(data, dict) and any(v is None for v in data.values()):
            fields = cls.model_fields
            data = {k: v for k, v in data.items() if v is not None or k not in fields or _nullable(fields[k])}
        return data


class _Request(_Wire):
    """A request body: every field is known, ignored on purpose, or refused by name."""

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if isinstance(data.get("options"), dict) and "options" not in cls.model_fields:
            data = _ollama_options(data)
        if any(name in data for name in LLAMACPP_NAMES):
            data = _llamacpp_names(data)
        check_fields(data, cls.model_fields, IGNORED_FIELDS, REJECTED_FIELDS)
        return data


class StreamOptions(_Wire):
    include_usage: bool = False
    continuous_usage_stats: bool = False

    @field_validator("continuous_usage_stats")
    @classmethod
    def _no_continuous_usage(cls, value: bool) -> bool:
        if value:
            raise ValueError("usage in every chunk is not supported; include_usage sends it once, at the end")
        return value


class TextPart(_Wire):
    type: Literal["text"]
    text: str


def _ollama_options(data: dict[str, Any]) -> dict[str, Any]:
    """Ollama-shaped `options` as the fields they stand for; a field given at the top wins."""
    data = dict(data)
    for name, value in data.pop("options").items():
        if name in OLLAMA_RESOURCE_OPTIONS:
            continue
        if name not in OLLAMA_OPTIONS:
            raise bad_request(f"options.{name}: not supported", param=f"options.{name}", code="unsupported_field")
        field = OLLAMA_OPTIONS[name]
        if field not in data or (field == "max_tokens" and data.get(field) is None):
            data[field] = value
    return data


def _llamacpp_names(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    for name, field in LLAMACPP_NAMES.items():
        if name in data:
            value = data.pop(name)
            if data.get(field) is None:
                data[field] = value
    return data


class FunctionCallIn(_Wire):
    name: str
    # Absent or empty: a call without arguments. The engines parse a call in the history back
    # into the chat template's objects, and llama.cpp fails on an empty text.
    arguments: str = "{}"

    @field_validator("arguments")
    @classmethod
    def _json_arguments(cls, value: str) -> str:
        # An empty text is a call without arguments (some clients send it so); the engines parse
        # a call in the history back into the chat template's objects (llama.cpp: a 500 otherwise).
        if not value:
            return "{}"
        try:
            arguments = json.loads(value)
        except ValueError:
            arguments = None
        if not isinstance(arguments, dict):
            raise ValueError('must be a JSON object as text (the call\'s arguments as the model produced them; "{}" for none)')
        return value


class ToolCallIn(_Wire):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallIn


class FunctionDefinition(_Wire):
    name: str = Field(..., pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: Optional[str] = None
    parameters: Optional[dict[str, Any]] = None
    strict: Optional[bool] = None


class ToolDefinition(_Wire):
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(_Wire):
    name: str


class NamedToolChoice(_Wire):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(_Wire):
    name: str = "output"
    description: Optional[str] = None
    schema_: Optional[dict[str, Any]] = Field(None, alias="schema")
    strict: Optional[bool] = None


class ResponseFormat(_Wire):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: Optional[JsonSchemaFormat] = None

    @model_validator(mode="after")
    def _schema_given(self) -> "ResponseFormat":
        if self.type == "json_schema" and (self.json_schema is None or self.json_schema.schema_ is None):
            raise ValueError("json_schema.schema: required when type is json_schema")
        return self


class ChatMessage(_Wire):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[str, list[TextPart], None] = None
    name: Optional[str] = None
    reasoning_content: Optional[str] = None
    tool_calls: Optional[list[ToolCallIn]] = None
    tool_call_id: Optional[str] = None

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

    def neutral(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": "system" if self.role == "developer" else self.role, "content": self.text()}
        if self.tool_calls:
            out["tool_calls"] = [call.model_dump() for call in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


class _SamplingFields(_Request):
    model: Optional[str] = None
    temperature: Optional[float] = Field(None, ge=0, le=2)
    top_p: Optional[float] = Field(None, gt=0, le=1)
    top_k: Optional[int] = Field(None, ge=-1, le=INT32_MAX)
    min_p: Optional[float] = Field(None, ge=0, le=1)
    repetition_penalty: Optional[float] = Field(None, gt=0, le=10)
    presence_penalty: Optional[float] = Field(None, ge=-2, le=2)
    frequency_penalty: Optional[float] = Field(None, ge=-2, le=2)
    seed: Optional[int] = Field(None, **SEED_RANGE)
    # llama.cpp's server's samplers: the llamacpp engine has them, the vllm engine refuses them.
    typical_p: Optional[float] = Field(None, gt=0, le=1)
    mirostat: Optional[Literal[0, 1, 2]] = None
    mirostat_tau: Optional[float] = Field(None, ge=0)
    mirostat_eta: Optional[float] = Field(None, ge=0)
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
            typical_p=self.typical_p,
            mirostat=self.mirostat,
            mirostat_tau=self.mirostat_tau,
            mirostat_eta=self.mirostat_eta,
        )

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatReasoning(_Wire):
    """OpenRouter's and the Responses API's `reasoning` object, as some clients send it on chat:
    `effort` is reasoning_effort; a summary is never written (as on the Responses API); what
    else would change the answer is a 400 naming it."""

    model_config = ConfigDict(extra="forbid")
    effort: Optional[Literal["low", "medium", "high"]] = None
    summary: Optional[Literal["auto", "concise", "detailed"]] = None


class ChatCompletionRequest(_SamplingFields):
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_completion_tokens: Optional[int] = Field(None, ge=1, le=INT32_MAX)
    reasoning_effort: Optional[Literal["low", "medium", "high"]] = None
    reasoning: Optional[ChatReasoning] = None
    # vLLM's and llama.cpp's server's: extra variables for the chat template (enable_thinking, ...).
    chat_template_kwargs: Optional[dict[str, Any]] = None
    # Beyond OpenAI (docs/PROTOCOL.md): answer from a knowledge base.
    retrieval: Optional["RetrievalOption"] = None
    tools: Optional[list[ToolDefinition]] = None
    tool_choice: Union[Literal["none", "auto", "required"], NamedToolChoice, None] = None
    parallel_tool_calls: Optional[bool] = None
    response_format: Optional[ResponseFormat] = None
    logprobs: Optional[bool] = None
    top_logprobs: Optional[int] = Field(None, ge=0, le=20)
    # Only text comes out of this server; ["text"] is accepted, anything else is a 400.
    modalities: Optional[list[Literal["text"]]] = None

    @model_validator(mode="after")
    def _check(self) -> "ChatCompletionRequest":
        if self.top_logprobs and not self.logprobs:
            raise bad_request("top_logprobs: requires logprobs: true", param="top_logprobs")
        for i, tool in enumerate(self.tools or ()):
            if tool.function.parameters is not None:
                check_schema(tool.function.parameters, f"tools[{i}].function.parameters")
        fmt = self.response_format
        if fmt is not None and fmt.json_schema is not None and fmt.type == "json_schema":
            check_schema(fmt.json_schema.schema_, "response_format.json_schema.schema")
        check_message_order([(m.role, bool(m.tool_calls)) for m in self.messages])
        return self

    def _tool_choice(self) -> ToolChoice:
        choice = self.tool_choice
        if choice is None:
            return ToolChoice("auto" if self.tools else "none")
        if isinstance(choice, NamedToolChoice):
            return ToolChoice("function", choice.function.name)
        return ToolChoice(choice)

    def _response_format(self) -> Optional[NeutralResponseFormat]:
        fmt = self.response_format
        if fmt is None or fmt.type == "text":
            return None
        if fmt.type == "json_object":
            return NeutralResponseFormat("json_object")
        assert fmt.json_schema is not None
        return NeutralResponseFormat("json_schema", fmt.json_schema.schema_, fmt.json_schema.name)

    def to_serving(self) -> ChatRequest:
        return ChatRequest(
            messages=[m.neutral() for m in self.messages],
            sampling=self.sampling(self.max_completion_tokens or self.max_tokens),
            model=self.model,
            n=self.n,
            history_window=self.truncate_prompt_tokens,
            reasoning_effort=self.reasoning_effort or (self.reasoning.effort if self.reasoning else None),
            chat_template_kwargs=self.chat_template_kwargs or {},
            ignore_eos=self.ignore_eos,
            retrieval=Retrieval(self.retrieval.collection, self.retrieval.top_k) if self.retrieval else None,
            tools=[t.function.model_dump(exclude_none=True, exclude={"strict"}) for t in self.tools or ()],
            tool_choice=self._tool_choice(),
            parallel_tool_calls=self.parallel_tool_calls is not False,
            response_format=self._response_format(),
            logprobs=(self.top_logprobs or 0) if self.logprobs else None,
        )


class FimFile(_Wire):
    path: str
    content: str


class CompletionRequest(_SamplingFields):
    prompt: Union[str, list[str]]
    # OpenAI's and vLLM's default for /v1/completions: a client that sends no limit gets a short answer.
    # 0 with echo: the prompt alone, scored (lm-evaluation-harness's loglikelihood requests).
    max_tokens: Optional[int] = Field(16, ge=0, le=INT32_MAX)
    suffix: Optional[str] = None
    echo: bool = False
    fim_files: list[FimFile] = Field(default_factory=list)
    # The legacy shape: the N most likely tokens at each position (0: only the sampled one).
    logprobs: Optional[int] = Field(None, ge=0, le=20)
    # Only as many as `n`: this server returns every choice it generates.
    best_of: Optional[int] = None

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
        if self.max_tokens == 0 and not self.echo:
            raise bad_request("max_tokens: 0 generates nothing; it is for echo (the prompt alone)", param="max_tokens")
        if self.truncate_prompt_tokens is not None:
            raise bad_request(
                "truncate_prompt_tokens: only chat requests take it (a history window)", param="truncate_prompt_tokens"
            )
        if self.best_of is not None and self.best_of != self.n:
            raise bad_request(
                "best_of: only equal to n is supported (this server returns every choice it generates)",
                param="best_of",
            )
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
            logprobs=self.logprobs,
        )


# ---- responses ----------------------------------------------------------------------------
class Out(BaseModel):
    def dump(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)

    def dump_json(self) -> bytes:
        """The same as JSON, by pydantic's own serializer: once per streamed token, where it costs
        a third of dump() and json.dumps (and writes a non-finite float as null, not Infinity)."""
        return self.model_dump_json(exclude_unset=True).encode()


class PromptTokensDetails(Out):
    cached_tokens: int


class UsageInfo(Out):
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


class TopLogprob(Out):
    token: str
    logprob: float
    bytes: Optional[list[int]]


class TokenLogprobOut(Out):
    token: str
    logprob: float
    bytes: Optional[list[int]]
    top_logprobs: list[TopLogprob]


class ChatLogprobs(Out):
    content: list[TokenLogprobOut]

    @classmethod
    def of(cls, entries: list[TokenLogprob]) -> "ChatLogprobs":
        return cls(
            content=[
                TokenLogprobOut(
                    token=e.token,
                    logprob=e.logprob,
                    bytes=e.bytes,
                    top_logprobs=[TopLogprob(token=t.token, logprob=t.logprob, bytes=t.bytes) for t in e.top],
                )
                for e in entries
            ]
        )


class CompletionLogprobs(Out):
    """The legacy /v1/completions shape; `text_offset` counts from the start of the choice's text.
    With echo, the prompt's first token has null for its log probability and alternatives."""

    tokens: list[str]
    token_logprobs: list[Optional[float]]
    top_logprobs: list[Optional[dict[str, float]]]
    text_offset: list[int]

    @classmethod
    def of(cls, entries: list[TokenLogprob], offset: int = 0) -> "CompletionLogprobs":
        offsets = []
        for e in entries:
            offsets.append(offset)
            offset += len(e.token)
        return cls(
            tokens=[e.token for e in entries],
            token_logprobs=[e.logprob for e in entries],
            top_logprobs=[None if e.logprob is None else {t.token: t.logprob for t in e.top} for e in entries],
            text_offset=offsets,
        )


class FunctionCallOut(Out):
    name: Optional[str] = None
    arguments: str


class ToolCallDelta(Out):
    index: int
    id: Optional[str] = None
    type: Optional[Literal["function"]] = None
    function: FunctionCallOut


class ToolCallOut(Out):
    id: str
    type: Literal["function"]
    function: FunctionCallOut

    @classmethod
    def of(cls, call: ToolCall) -> "ToolCallOut":
        return cls(id=call.id, type="function", function=FunctionCallOut(name=call.name, arguments=call.arguments))


class DeltaMessage(Out):
    role: Optional[Literal["assistant"]] = None
    content: Optional[str] = None
    reasoning_content: Optional[str] = None
    tool_calls: Optional[list[ToolCallDelta]] = None


class ChunkChoice(Out):
    index: int
    delta: DeltaMessage
    logprobs: Optional[ChatLogprobs]
    finish_reason: Optional[str]


class ChatCompletionChunk(Out):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Optional[UsageInfo] = None
    sources: Optional[list[dict[str, Any]]] = None  # retrieval: the first chunk's


class AssistantMessage(Out):
    role: Literal["assistant"]
    content: Optional[str]
    reasoning_content: Optional[str] = None
    tool_calls: Optional[list[ToolCallOut]] = None

    @classmethod
    def of(cls, result: ChoiceResult) -> "AssistantMessage":
        # OpenAI answers a tool call with `content: null` when the model wrote nothing else.
        message = cls(role="assistant", content=None if result.tool_calls and not result.text else result.text)
        if result.reasoning:
            message.reasoning_content = result.reasoning
        if result.tool_calls:
            message.tool_calls = [ToolCallOut.of(c) for c in result.tool_calls]
        return message


class ChatChoice(Out):
    index: int
    message: AssistantMessage
    logprobs: Optional[ChatLogprobs]
    finish_reason: Optional[str]


class ChatCompletionResponse(Out):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: UsageInfo
    sources: Optional[list[dict[str, Any]]] = None  # retrieval: the chunks [ref N] cites


class CompletionChoice(Out):
    index: int
    text: str
    logprobs: Optional[CompletionLogprobs]
    finish_reason: Optional[str]


class CompletionChunk(Out):
    """A stream chunk of /v1/completions; the non-stream answer has the same shape."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Optional[UsageInfo] = None


CompletionResponse = CompletionChunk


class ModelCard(Out):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    # Beyond OpenAI (docs/PROTOCOL.md): the context length and the FIM template family.
    max_model_len: Optional[int]
    fim_family: Optional[str]
    fim_supports_files: bool


class ModelList(Out):
    object: Literal["list"]
    data: list[ModelCard]


# ---- errors -------------------------------------------------------------------------------
def error_body(exc: ApiError) -> dict[str, Any]:
    return {"error": {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.code}}


def error_event(exc: ApiError) -> bytes:
    """An error after the stream's headers went out, as one more SSE event."""
    return f"data: {json.dumps(error_body(exc))}\n\n".encode()


# ---- embeddings (/v1/embeddings) ----------------------------------------------------------
class EmbeddingCreateRequest(_Request):
    """OpenAI's embeddings request, with vLLM's truncate_prompt_tokens; any other field (but the
    ignored ones: user, ...) is a 400 naming it, as on chat."""

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


class EmbeddingData(Out):
    object: Literal["embedding"]
    index: int
    embedding: Union[list[float], str]  # str: base64 of little-endian float32


class EmbeddingUsage(Out):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(Out):
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
