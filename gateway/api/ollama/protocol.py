"""Pydantic models of Ollama's wire format (docs/api.md and api/types.go of ollama/ollama):
requests, their decoding into the serving core's neutral requests, the answers and stream lines,
and the error body `{"error": "..."}`.

Every field Ollama documents is declared here and either works, is accepted and ignored (it
only makes sense for Ollama's own model management: `keep_alive`, `num_gpu`, ...), or is refused
with a 400 naming it (docs/PROTOCOL.md has the table; a test walks it). A field Ollama does not
document is refused too, so nothing a client asks for is dropped silently.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.api.json_schema import check_schema
from gateway.api.message_order import check_message_order
from gateway.engines.base import ResponseFormat, SamplingParams, TokenLogprob, ToolChoice
from gateway.errors import ApiError, ContextLengthExceeded
from gateway.serving import ChatRequest, Retrieval, TextRequest
from gateway.serving.embeddings import EmbeddingRequest

# The Ollama release whose API this module follows (ollama/ollama docs/api.md, api/types.go);
# clients gate features on it.
OLLAMA_VERSION = "0.33.0"

# Ollama's DefaultOptions() (api/types.go): what a request without options samples with.
DEFAULT_TEMPERATURE = 0.8
DEFAULT_TOP_K = 40
DEFAULT_TOP_P = 0.9

# ---- options ------------------------------------------------------------------------------
# name -> Ollama's type, as FromMap checks it ("option %q must be of type ...").
_SUPPORTED_OPTIONS = {
    "num_predict": "integer", "temperature": "float32", "top_k": "integer", "top_p": "float32",
    "min_p": "float32", "repeat_penalty": "float32", "presence_penalty": "float32",
    "frequency_penalty": "float32", "seed": "integer", "stop": "array", "num_ctx": "integer",
}
# Load-time and performance settings of Ollama's runner (api/types.go Runner, plus the
# options older clients still send and Ollama itself now ignores): the gateway's engine is
# configured once, at start, so these have nothing to act on here.
IGNORED_OPTIONS = {
    "num_keep": "integer", "num_batch": "integer", "num_gpu": "integer", "main_gpu": "integer",
    "use_mmap": "boolean", "num_thread": "integer", "draft_num_predict": "integer",
    "numa": "boolean", "low_vram": "boolean", "f16_kv": "boolean", "logits_all": "boolean",
    "vocab_only": "boolean", "use_mlock": "boolean", "embedding_only": "boolean",
    "tfs_z": "float32", "mirostat": "integer", "mirostat_tau": "float32", "mirostat_eta": "float32",
    "penalize_newline": "boolean",
}
# Sampling options Ollama still applies that the engines here do not have: accepted at their
# default (what Ollama would do anyway), refused otherwise.
DEFAULT_ONLY_OPTIONS = {"typical_p": ("float32", 1.0), "repeat_last_n": ("integer", 64)}
SUPPORTED_OPTIONS = tuple(_SUPPORTED_OPTIONS)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _typed(name: str, kind: str, value: Any) -> Any:
    bad = ApiError(400, f'option "{name}" must be of type {kind}', param=f"options.{name}")
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if not INT64_MIN <= value <= INT64_MAX:  # Ollama's Go int; the engines' too
            raise ApiError(400, f'option "{name}" must be a 64-bit integer', param=f"options.{name}")
        return int(value)
    if kind == "float32":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise bad
        return value
    if not isinstance(value, list):  # array
        raise bad
    if not all(isinstance(s, str) for s in value):
        raise ApiError(400, f'option "{name}" must be of an array of strings', param=f"options.{name}")
    return value


def _range(name: str, ok: bool, what: str) -> None:
    if not ok:
        raise ApiError(400, f'option "{name}" must be {what}', param=f"options.{name}")


class Options:
    """`options`, checked as Ollama's FromMap checks them, with Ollama's defaults applied."""

    def __init__(self, raw: Optional[dict[str, Any]]):
        self.values: dict[str, Any] = {}
        for name, value in (raw or {}).items():
            if value is None:
                continue
            if name in _SUPPORTED_OPTIONS:
                self.values[name] = _typed(name, _SUPPORTED_OPTIONS[name], value)
            elif name in IGNORED_OPTIONS:
                _typed(name, IGNORED_OPTIONS[name], value)
            elif name in DEFAULT_ONLY_OPTIONS:
                kind, default = DEFAULT_ONLY_OPTIONS[name]
                if _typed(name, kind, value) != default:
                    raise ApiError(
                        400,
                        f'option "{name}" is not supported by this server (only its default, {default})',
                        param=f"options.{name}",
                    )
            else:
                raise ApiError(400, f'invalid option provided: "{name}"', param=f"options.{name}")
        v = self.values
        _range("temperature", v.get("temperature", 0) >= 0, "at least 0")
        _range("top_p", 0 < v.get("top_p", 1) <= 1, "greater than 0 and at most 1")
        _range("min_p", 0 <= v.get("min_p", 0) <= 1, "between 0 and 1")
        _range("top_k", v.get("top_k", 0) >= 0, "at least 0")
        _range("repeat_penalty", v.get("repeat_penalty", 1) > 0, "greater than 0")
        _range("num_ctx", v.get("num_ctx", 1) > 0, "greater than 0")
        if any(s == "" for s in v.get("stop", ())):
            raise ApiError(400, 'option "stop" must not contain empty strings', param="options.stop")

    def sampling(self) -> SamplingParams:
        v = self.values
        num_predict = v.get("num_predict")
        seed = v.get("seed")
        return SamplingParams(
            # -1 (Ollama's default) and -2 (fill the context) both mean: no limit of its own.
            max_tokens=num_predict if num_predict and num_predict > 0 else None,
            temperature=v.get("temperature", DEFAULT_TEMPERATURE),
            top_p=v.get("top_p", DEFAULT_TOP_P),
            top_k=v.get("top_k", DEFAULT_TOP_K),
            min_p=v.get("min_p"),
            repetition_penalty=v.get("repeat_penalty"),
            presence_penalty=v.get("presence_penalty"),
            frequency_penalty=v.get("frequency_penalty"),
            seed=seed if seed is not None and seed >= 0 else None,  # -1: a random seed
            stop=list(v.get("stop", [])),
        )

    def context_window(self, context_length: int) -> Optional[int]:
        """num_ctx, within the model's context (Ollama caps it to the model's the same way)."""
        num_ctx = self.values.get("num_ctx")
        return min(num_ctx, context_length) if num_ctx else None


# ---- requests -----------------------------------------------------------------------------
class _Wire(BaseModel):
    # Ollama's Go decoder drops unknown fields; here they are a 400 naming them instead.
    model_config = ConfigDict(extra="forbid")


KeepAlive = Union[int, float, str, None]  # a duration ("5m") or seconds; ignored here
Think = Union[bool, Literal["low", "medium", "high", "max"], None]


class FunctionCallIn(_Wire):
    index: Optional[int] = None  # the call's place in its message; the order says the same
    name: str = Field(..., min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)  # an object, not JSON text


class ToolCallIn(_Wire):
    id: Optional[str] = None  # newer Ollama and LangChain send one; generated when absent
    type: Optional[Literal["function"]] = None  # LangChain sends it
    function: FunctionCallIn


class Message(_Wire):
    role: Literal["system", "user", "assistant", "tool"]
    content: Optional[str] = ""
    thinking: Optional[str] = None  # an earlier answer's thinking; not sent back to the model
    images: Optional[list[str]] = None
    tool_calls: Optional[list[ToolCallIn]] = None
    tool_name: Optional[str] = None  # a tool result's function
    tool_call_id: Optional[str] = None  # the call a tool result answers

    @field_validator("role", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value  # as Message.UnmarshalJSON does


def neutral_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """The history as the serving core takes it: a call's arguments as JSON text, each call with
    an id, and each tool result with the id of the call it answers. Ollama's history often has
    neither id (its tool results name the function, `tool_name`): ids are generated, and a
    result is matched to the earliest unanswered call of its function, else of any function."""
    out: list[dict[str, Any]] = []
    pending: list[tuple[str, str]] = []  # (id, name) of calls not answered yet
    for i, m in enumerate(messages):
        message: dict[str, Any] = {"role": m.role, "content": m.content or ""}
        if m.role == "assistant" and m.tool_calls:
            calls = []
            for j, call in enumerate(m.tool_calls):
                call_id = call.id or f"call_{i}_{j}"
                pending.append((call_id, call.function.name))
                calls.append({"id": call_id, "type": "function", "function": {
                    "name": call.function.name, "arguments": json.dumps(call.function.arguments, ensure_ascii=False)}})
            message["tool_calls"] = calls
        elif m.role == "tool":
            answered = m.tool_call_id
            if answered is None and pending:
                answered = next((cid for cid, name in pending if name == m.tool_name), pending[0][0])
            pending = [(cid, name) for cid, name in pending if cid != answered]
            if answered is not None:
                message["tool_call_id"] = answered
        out.append(message)
    return out


class ToolFunction(_Wire):
    name: str = Field(..., min_length=1)
    description: Optional[str] = None
    parameters: Optional[dict[str, Any]] = None


class ToolDefinition(_Wire):
    type: Literal["function"] = "function"
    function: ToolFunction


class RetrievalOption(_Wire):
    """Beyond Ollama (docs/PROTOCOL.md): answer from a knowledge base, as on /v1/chat/completions."""

    collection: str = Field(..., min_length=1)
    top_k: int = Field(4, ge=1)


class _Generation(_Wire):
    model: str = ""
    stream: Optional[bool] = None  # absent: true
    format: Union[Literal["", "json"], dict[str, Any], None] = None
    options: Optional[dict[str, Any]] = None
    keep_alive: KeepAlive = None
    think: Think = None
    truncate: Optional[bool] = None
    shift: Optional[bool] = None
    logprobs: Optional[bool] = None
    top_logprobs: Optional[int] = None

    @property
    def streaming(self) -> bool:
        return self.stream is not False

    def refusals(self) -> None:
        """Fields this server cannot honour, or values it cannot use: a 400 naming each."""
        if isinstance(self.format, dict):
            check_schema(self.format, "format")
        if self.top_logprobs is not None and not 0 <= self.top_logprobs <= 20:
            raise ApiError(400, "top_logprobs must be between 0 and 20", param="top_logprobs")
        if self.shift:
            raise ApiError(
                400, "shift: context shifting is not supported by this server; use truncate", param="shift"
            )

    def logprobs_asked(self) -> Optional[int]:
        """None: off; N: each token's log probability with the N most likely alternatives
        (asking for alternatives asks for the log probabilities)."""
        return (self.top_logprobs or 0) if self.logprobs or self.top_logprobs else None

    def response_format(self) -> Optional[ResponseFormat]:
        """`"json"`: any JSON object; a schema: JSON valid against it (both constrained decoding)."""
        if self.format == "json":
            return ResponseFormat("json_object")
        if isinstance(self.format, dict):
            return ResponseFormat("json_schema", self.format, "format")
        return None

    def reasoning_effort(self) -> Optional[str]:
        if isinstance(self.think, str):
            return "high" if self.think == "max" else self.think  # as Ollama maps max for harmony
        return None

    @property
    def show_thinking(self) -> bool:
        return self.think is not False


class GenerateRequest(_Generation):
    prompt: str = ""
    suffix: Optional[str] = None
    system: Optional[str] = None
    template: Optional[str] = None
    context: Optional[list[int]] = None
    raw: Optional[bool] = None
    images: Optional[list[str]] = None
    # The python client's experimental image generation fields.
    width: Optional[int] = None
    height: Optional[int] = None
    steps: Optional[int] = None

    def refusals(self) -> None:
        super().refusals()
        if self.raw and (self.template or self.system or self.context):
            raise ApiError(400, "raw mode does not support template, system, or context", param="raw")
        if self.template:
            raise ApiError(
                400,
                "template: this server renders prompts with the model's own chat template; "
                "send a rendered prompt with raw: true instead",
                param="template",
            )
        if self.context:
            raise ApiError(
                400, "context: not supported by this server; send the conversation to /api/chat", param="context"
            )
        if self.images:
            raise ApiError(400, "images: this model accepts only text", param="images")
        for name in ("width", "height", "steps"):
            if getattr(self, name):
                raise ApiError(400, f"{name}: image generation models are not currently supported", param=name)
        if self.suffix and self.system:
            raise ApiError(400, "system: cannot be combined with suffix (fill-in-the-middle)", param="system")

    def to_text(self, options: Options, extra_stop: list[str] = ()) -> TextRequest:
        sampling = options.sampling()
        sampling.stop += [s for s in extra_stop if s not in sampling.stop]
        return TextRequest(prompts=[self.prompt], sampling=sampling, suffix=self.suffix or None,
                           response_format=self.response_format(), logprobs=self.logprobs_asked())

    def to_chat(self, options: Options, window: Optional[int]) -> ChatRequest:
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.append({"role": "user", "content": self.prompt})
        return ChatRequest(
            messages=messages,
            sampling=options.sampling(),
            history_window=window,
            reasoning_effort=self.reasoning_effort(),
            response_format=self.response_format(),
            logprobs=self.logprobs_asked(),
        )


class ChatRequestBody(_Generation):
    messages: list[Message] = Field(default_factory=list)
    tools: Optional[list[ToolDefinition]] = None
    # Beyond Ollama (docs/PROTOCOL.md): answer from a knowledge base.
    retrieval: Optional[RetrievalOption] = None

    def refusals(self) -> None:
        super().refusals()
        for i, tool in enumerate(self.tools or ()):
            if tool.function.parameters is not None:
                check_schema(tool.function.parameters, f"tools[{i}].function.parameters")
        for i, m in enumerate(self.messages):
            if m.images:
                raise ApiError(400, f"messages[{i}].images: this model accepts only text", param=f"messages[{i}].images")
            if m.tool_calls and m.role != "assistant":
                raise ApiError(
                    400, f"messages[{i}].tool_calls: only assistant messages carry tool calls",
                    param=f"messages[{i}].tool_calls",
                )
        check_message_order([(m.role, bool(m.tool_calls)) for m in self.messages])

    def to_chat(self, options: Options, window: Optional[int]) -> ChatRequest:
        tools = [t.function.model_dump(exclude_none=True) for t in self.tools or ()]
        return ChatRequest(
            messages=neutral_messages(self.messages),
            sampling=options.sampling(),
            # Ollama trims the oldest turns to fit unless truncate is false; -1: the configured window.
            history_window=None if self.truncate is False else (window or -1),
            reasoning_effort=self.reasoning_effort(),
            retrieval=Retrieval(self.retrieval.collection, self.retrieval.top_k) if self.retrieval else None,
            tools=tools,
            # Ollama has no tool_choice: with tools, the model decides whether to call one.
            tool_choice=ToolChoice("auto" if tools else "none"),
            response_format=self.response_format(),
            logprobs=self.logprobs_asked(),
        )


class ShowRequest(_Wire):
    model: str = ""
    name: str = ""  # deprecated spelling of model
    verbose: Optional[bool] = None
    system: Optional[str] = None
    template: Optional[str] = None
    options: Optional[dict[str, Any]] = None


class PullRequest(_Wire):
    """POST /api/pull. The served models are already here; nothing is downloaded."""

    model: str = ""
    name: str = ""  # deprecated spelling of model
    insecure: Optional[bool] = None  # registry over plain HTTP: no registry is reached
    username: Optional[str] = None
    password: Optional[str] = None
    stream: Optional[bool] = None  # absent: true


# What Ollama streams for a model that is already up to date, then "success".
PULL_STATUSES = ("pulling manifest", "verifying sha256 digest", "writing manifest", "success")


class EmbedRequest(_Wire):
    """POST /api/embed."""

    model: str = ""
    input: Union[str, list[str], None] = None
    # Default true: an input past the model's window is cut to fit; false: a 400.
    truncate: Optional[bool] = None
    dimensions: Optional[int] = Field(None, ge=1)
    options: Optional[dict[str, Any]] = None  # checked as for generation; nothing in them applies
    keep_alive: KeepAlive = None

    @field_validator("input", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        if value is None or isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return value
        raise ValueError("must be a string or a list of strings")

    def inputs(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input or [])

    def to_serving(self, window: int) -> EmbeddingRequest:
        return EmbeddingRequest(
            inputs=list(self.inputs()),
            dimensions=self.dimensions,
            truncate_prompt_tokens=None if self.truncate is False else window,
            truncate_hint="leave truncate at its default, true, to keep the first tokens",
        )


class EmbeddingsRequest(_Wire):
    """POST /api/embeddings, the endpoint /api/embed superseded: one text, one vector."""

    model: str = ""
    prompt: str = ""
    options: Optional[dict[str, Any]] = None
    keep_alive: KeepAlive = None

    def to_serving(self, window: int) -> EmbeddingRequest:
        return EmbeddingRequest(inputs=[self.prompt], truncate_prompt_tokens=window, input_param="prompt")


# ---- answers ------------------------------------------------------------------------------
def now() -> str:
    """Go's RFC 3339 time with nanoseconds, in UTC, as Ollama's created_at."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Metrics(BaseModel):
    """The final line's numbers; durations in nanoseconds."""

    total_duration: int
    load_duration: int
    prompt_eval_count: int
    prompt_eval_duration: int
    eval_count: int
    eval_duration: int


def logprobs_body(entries: list[TokenLogprob], alternatives: bool) -> list[dict[str, Any]]:
    """Ollama's `logprobs` (0.12 on): one entry per token, `top_logprobs` when asked for."""
    def entry(e: TokenLogprob) -> dict[str, Any]:
        out: dict[str, Any] = {"token": e.token, "logprob": e.logprob}
        if e.bytes is not None:
            out["bytes"] = e.bytes
        return out

    return [{**entry(e), **({"top_logprobs": [entry(t) for t in e.top]} if alternatives else {})} for e in entries]


def human_number(n: int) -> str:
    """A parameter count as Ollama writes it (format.HumanNumber): 8B, 3.2B, 134.52M, 500K."""
    for unit, size, decimals in (("B", 10**9, 1), ("M", 10**6, 2)):
        if n >= size:
            value = n / size
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.{decimals}f}{unit}"
    return f"{n / 1000:.0f}K" if n >= 1000 else str(n)


class ModelDetails(BaseModel):
    parent_model: str = ""
    format: str = ""
    family: str = ""
    families: Optional[list[str]] = None
    parameter_size: str = ""
    quantization_level: str = ""
    context_length: Optional[int] = None


def error_body(exc: ApiError) -> dict[str, Any]:
    if isinstance(exc, ContextLengthExceeded):  # Ollama's own words (with truncate: false)
        return {"error": f"request ({exc.prompt_tokens} tokens) exceeds the available context size "
                         f"({exc.limit} tokens), try increasing it"}
    return {"error": exc.message}
