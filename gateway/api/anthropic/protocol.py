"""Pydantic models of Anthropic's Messages API: the request (and count_tokens'), its decoding
into the serving core's neutral ChatRequest, the answer's content blocks and usage, and the
error body.

Every request field either works, is one of those that cannot change the answer and is accepted
(IGNORED_FIELDS: metadata, cache hints, context management ...), or is a 400 naming it
(REJECTED_FIELDS, and any field this server does not know); docs/PROTOCOL.md has the table, and
tests/gateway/api/anthropic/test_messages_field_table.py walks it. Tools that Anthropic defines and runs
itself (web search, code execution, ...; a `type` other than "custom") have no schema the model
could call: they are left out of the model's tools and named in the answer's X-Omitted-Tools.
"""
from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.api.json_schema import check_schema
from gateway.engines.base import ResponseFormat, SamplingParams, ToolChoice
from gateway.api.request_fields import check_fields
from gateway.errors import ApiError, ContextLengthExceeded, bad_request
from gateway.serving import ChatRequest, Usage

INT32_MAX = 2**31 - 1

# Accepted and ignored: they cannot change what the model writes (request metadata and ids,
# prompt-cache hints, the clearing of old context that a local prompt cache does not need, where
# and how fast Anthropic would run the request, its diagnostics).
IGNORED_FIELDS = frozenset(
    {"metadata", "service_tier", "context_management", "container", "cache_control", "inference_geo", "speed",
     "diagnostics", "user_profile_id", "workspace_id"}
)
# Would change the answer, and this server cannot do them: a 400 naming the field (empty or null
# is the same as absent).
REJECTED_FIELDS = {
    "mcp_servers": "remote MCP servers are not supported; run the tools in the client and send them as `tools`",
}
# Content blocks that carry something other than text: refused by name.
_NOT_TEXT = {
    "image": "image blocks are not supported; this model reads text",
    "document": "document blocks are not supported; send the document's text as a text block",
    "search_result": "search_result blocks are not supported; send the results as text",
    "container_upload": "container_upload blocks are not supported (no code execution here)",
}
# Effort as gpt-oss knows it (low, medium, high); Anthropic's top levels are high for it.
_EFFORT = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Request(_Wire):
    """A request body: every field is known, ignored on purpose, or refused by name."""

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        check_fields(data, cls.model_fields, IGNORED_FIELDS, REJECTED_FIELDS)
        return data


# ---- content blocks in ------------------------------------------------------------------------
class TextBlock(_Wire):
    type: Literal["text"]
    text: str
    # cache_control and citations: accepted, they do not change the text.


class ToolUseBlock(_Wire):
    type: Literal["tool_use"]
    id: str
    name: str
    input: Any = Field(default_factory=dict)


class ToolResultBlock(_Wire):
    type: Literal["tool_result"]
    tool_use_id: str
    content: Union[str, list[TextBlock], None] = None
    is_error: bool = False

    @field_validator("content", mode="before")
    @classmethod
    def _only_text(cls, value: Any) -> Any:
        if isinstance(value, list):
            for i, block in enumerate(value):
                kind = block.get("type") if isinstance(block, dict) else None
                if kind != "text":
                    why = _NOT_TEXT.get(kind, f"{kind!r} blocks are not supported in a tool result; send text")
                    raise ValueError(f"content[{i}]: {why}")
        return value

    def text(self) -> str:
        if self.content is None:
            return ""
        text = self.content if isinstance(self.content, str) else "\n".join(b.text for b in self.content)
        # The chat template has no error flag: the model reads it in the result.
        return f"Error: {text}" if self.is_error else text


class ThinkingBlock(_Wire):
    type: Literal["thinking", "redacted_thinking"]
    thinking: str = ""
    signature: str = ""
    data: str = ""


Block = Annotated[Union[TextBlock, ToolUseBlock, ToolResultBlock, ThinkingBlock], Field(discriminator="type")]
_BLOCKS: dict[str, type[_Wire]] = {
    "text": TextBlock, "tool_use": ToolUseBlock, "tool_result": ToolResultBlock,
    "thinking": ThinkingBlock, "redacted_thinking": ThinkingBlock,
}


def _check_blocks(value: Any) -> Any:
    if isinstance(value, list):
        for i, block in enumerate(value):
            kind = block.get("type") if isinstance(block, dict) else None
            if not isinstance(kind, str):  # an object or list as `type` is no block (and unhashable)
                raise ValueError(f"content[{i}]: a content block needs a string `type`")
            if kind in _NOT_TEXT:
                raise ValueError(f"content[{i}]: {_NOT_TEXT[kind]}")
            if kind not in _BLOCKS:
                raise ValueError(f"content[{i}]: unknown content block type {kind!r}")
    return value


class InputMessage(_Wire):
    # "system": a system turn in the conversation (Claude Code sends one after the first user
    # turn); it stays where it is.
    role: Literal["user", "assistant", "system"]
    content: Union[str, list[Block]]

    @field_validator("content", mode="before")
    @classmethod
    def _known_blocks(cls, value: Any) -> Any:
        return _check_blocks(value)

    def blocks(self) -> list[Block]:
        return [TextBlock(type="text", text=self.content)] if isinstance(self.content, str) else self.content

    def neutral(self, i: int) -> list[dict[str, Any]]:
        """This turn as the chat template's messages: tool results become `tool` messages,
        tool uses the assistant's tool_calls; earlier turns' thinking is left out, as Anthropic
        leaves it out of the prompt."""
        blocks = self.blocks()
        text = "".join(b.text for b in blocks if isinstance(b, TextBlock))
        if self.role == "assistant":
            calls = [
                {"id": b.id, "type": "function", "function": {"name": b.name, "arguments": json.dumps(b.input)}}
                for b in blocks if isinstance(b, ToolUseBlock)
            ]
            if any(isinstance(b, ToolResultBlock) for b in blocks):
                raise bad_request(f"messages[{i}]: tool_result blocks belong in a user turn", param=f"messages[{i}]")
            return [{"role": "assistant", "content": text, **({"tool_calls": calls} if calls else {})}]
        wrong = next((b.type for b in blocks if isinstance(b, (ToolUseBlock, ThinkingBlock))), None)
        if wrong is not None:
            raise bad_request(f"messages[{i}]: {wrong} blocks belong in an assistant turn", param=f"messages[{i}]")
        out = [
            {"role": "tool", "tool_call_id": b.tool_use_id, "content": b.text()}
            for b in blocks if isinstance(b, ToolResultBlock)
        ]
        if text or not out:
            out.append({"role": self.role, "content": text})
        return out


# ---- tools ------------------------------------------------------------------------------------
class Tool(_Wire):
    """A custom tool (the client runs it), or one Anthropic defines (`type` names a version,
    e.g. web_search_20250305): those are left out of the model's tools."""

    type: Optional[str] = None
    name: str
    description: Optional[str] = None
    input_schema: Optional[dict[str, Any]] = None
    # cache_control, defer_loading, strict, input_examples, eager_input_streaming: accepted.

    @property
    def custom(self) -> bool:
        return self.type in (None, "custom")

    @model_validator(mode="after")
    def _custom_has_schema(self) -> "Tool":
        if self.custom and self.input_schema is None:
            raise ValueError("input_schema: field required")
        return self


class ToolChoiceParam(_Wire):
    type: Literal["auto", "any", "tool", "none"]
    name: Optional[str] = None
    disable_parallel_tool_use: bool = False

    @model_validator(mode="after")
    def _named(self) -> "ToolChoiceParam":
        if self.type == "tool" and not self.name:
            raise ValueError("name: required when type is tool")
        return self


class ThinkingParam(_Wire):
    type: Literal["enabled", "adaptive", "disabled"]
    budget_tokens: Optional[int] = Field(None, ge=1, le=INT32_MAX)
    display: Optional[Literal["summarized", "omitted"]] = None


class OutputFormat(_Wire):
    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(..., alias="schema")


class OutputConfig(_Wire):
    effort: Optional[Literal["low", "medium", "high", "xhigh", "max"]] = None
    format: Optional[OutputFormat] = None


class SystemText(_Wire):
    type: Literal["text"]
    text: str


# ---- requests ---------------------------------------------------------------------------------
class _Prompt(_Request):
    """What count_tokens and messages share: the model, the conversation, the tools."""

    model: str
    messages: list[InputMessage] = Field(..., min_length=1)
    system: Union[str, list[SystemText], None] = None
    tools: Optional[list[Tool]] = None
    tool_choice: Optional[ToolChoiceParam] = None
    thinking: Optional[ThinkingParam] = None
    output_config: Optional[OutputConfig] = None
    # The structured-outputs beta's name for output_config.format.
    output_format: Optional[OutputFormat] = None

    @model_validator(mode="after")
    def _check_schemas(self) -> "_Prompt":
        for i, tool in enumerate(self.tools or ()):
            if tool.input_schema is not None and tool.custom:
                check_schema(tool.input_schema, f"tools[{i}].input_schema")
        fmt = self.output_format
        if fmt is not None:
            check_schema(fmt.schema_, "output_format.schema")
        fmt = self.output_config.format if self.output_config else None
        if fmt is not None:
            check_schema(fmt.schema_, "output_config.format.schema")
        return self

    def format(self) -> Optional[OutputFormat]:
        fmt = self.output_config.format if self.output_config else None
        return fmt or self.output_format

    def neutral_messages(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        system = self.system if isinstance(self.system, str) else "\n\n".join(s.text for s in self.system or ())
        if system:
            out.append({"role": "system", "content": system})
        for i, message in enumerate(self.messages):
            out.extend(message.neutral(i))
        return out

    def model_tools(self) -> list[dict[str, Any]]:
        """The custom tools, as the serving core's function tools."""
        return [
            {"name": t.name, **({"description": t.description} if t.description else {}), "parameters": t.input_schema}
            for t in self.tools or () if t.custom
        ]

    def omitted_tools(self) -> list[str]:
        """Tools Anthropic runs on its side: not shown to the model (X-Omitted-Tools)."""
        return [t.name for t in self.tools or () if not t.custom]

    @property
    def thinking_on(self) -> bool:
        return self.thinking is not None and self.thinking.type != "disabled"

    def effort(self) -> Optional[str]:
        """Reasoning effort for models that reason (gpt-oss): output_config.effort, else the
        thinking budget (under 4k tokens low, under 16k medium, above high)."""
        if self.output_config is not None and self.output_config.effort is not None:
            return _EFFORT[self.output_config.effort]
        if self.thinking is not None and self.thinking.budget_tokens:
            budget = self.thinking.budget_tokens
            return "low" if budget < 4096 else "medium" if budget < 16384 else "high"
        return None

    def neutral_tool_choice(self) -> ToolChoice:
        choice = self.tool_choice
        custom = {t.name for t in self.tools or () if t.custom}
        if choice is None or choice.type == "auto":
            return ToolChoice("auto" if custom else "none")
        if choice.type == "none":
            return ToolChoice("none")
        if choice.type == "any":
            if not custom:
                raise bad_request("tool_choice: any requires tools the model can call", param="tool_choice")
            return ToolChoice("required")
        if choice.name in set(self.omitted_tools()):
            raise bad_request(
                f"tool_choice.name: {choice.name!r} is a tool Anthropic runs on its side; this server cannot run it",
                param="tool_choice.name",
            )
        if choice.name not in custom:
            raise bad_request(f"tool_choice.name: no tool named {choice.name!r} in tools", param="tool_choice.name")
        return ToolChoice("function", choice.name)


class CountTokensRequest(_Prompt):
    pass


class MessagesRequest(_Prompt):
    max_tokens: int = Field(..., ge=1, le=INT32_MAX)
    stop_sequences: Optional[list[str]] = None
    stream: bool = False
    temperature: Optional[float] = Field(None, ge=0, le=1)
    top_p: Optional[float] = Field(None, ge=0, le=1)
    top_k: Optional[int] = Field(None, ge=0, le=INT32_MAX)

    @field_validator("stop_sequences")
    @classmethod
    def _no_empty_stop(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        if value and any(s == "" for s in value):
            raise ValueError("stop sequences must not be empty strings")
        return value

    def to_serving(self) -> ChatRequest:
        fmt = self.format()
        return ChatRequest(
            messages=self.neutral_messages(),
            # Stop sequences are matched here, not in the engine: the answer names the one that
            # stopped it (handlers.StopMatcher).
            sampling=SamplingParams(
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                top_p=self.top_p or None,
                top_k=self.top_k,
            ),
            model=self.model,
            reasoning_effort=self.effort(),
            tools=self.model_tools(),
            tool_choice=self.neutral_tool_choice(),
            parallel_tool_calls=not (self.tool_choice and self.tool_choice.disable_parallel_tool_use),
            response_format=ResponseFormat("json_schema", fmt.schema_, "output") if fmt is not None else None,
        )


# ---- the answer -------------------------------------------------------------------------------
class Out(BaseModel):
    def dump(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=False)

    def dump_json(self) -> bytes:
        return self.model_dump_json().encode()


class UsageOut(Out):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int

    @classmethod
    def of(cls, usage: Usage) -> "UsageOut":
        # Anthropic counts prompt-cache reads apart from the input tokens.
        return cls(
            input_tokens=usage.prompt_tokens - usage.cached_tokens,
            output_tokens=usage.completion_tokens,
            cache_creation_input_tokens=0,
            cache_read_input_tokens=usage.cached_tokens,
        )


class TextOut(Out):
    type: Literal["text"] = "text"
    text: str


class ThinkingOut(Out):
    type: Literal["thinking"] = "thinking"
    thinking: str
    signature: str


class ToolUseOut(Out):
    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: Any


ContentOut = Union[ThinkingOut, TextOut, ToolUseOut]


class MessageOut(Out):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[ContentOut]
    stop_reason: Optional[str]
    stop_sequence: Optional[str]
    usage: UsageOut


class TokenCount(Out):
    input_tokens: int


# ---- errors -----------------------------------------------------------------------------------
# Anthropic's error types by status (docs.anthropic.com/en/api/errors).
_ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
    413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 504: "timeout_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    if status in _ERROR_TYPES:
        return _ERROR_TYPES[status]
    if status == 503:
        return "overloaded_error"
    return "api_error" if status >= 500 else "invalid_request_error"


def error_message(exc: ApiError) -> str:
    """The message, in Anthropic's words where a client reads it (a prompt over the window:
    Claude Code compacts the conversation when it sees "prompt is too long")."""
    if isinstance(exc, ContextLengthExceeded):
        return f"prompt is too long: {exc.prompt_tokens} tokens > {exc.limit} maximum"
    return exc.message


def error_body(exc: ApiError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type(exc.status), "message": error_message(exc)}}


def error_event(exc: ApiError) -> bytes:
    """An error after the stream's headers went out, as Anthropic's `error` event."""
    return b"event: error\ndata: " + json.dumps(error_body(exc)).encode() + b"\n\n"
