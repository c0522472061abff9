"""Pydantic models of OpenAI's Responses API: the request (with its decoding into the serving
core's ChatRequest) and the response object with its output items and usage.

As with chat completions, every request field works, is accepted and ignored because it cannot
change the answer (IGNORED_FIELDS: metadata, cache keys, Codex's client_metadata ...), or is a 400
naming it (REJECTED_FIELDS and any unknown field); docs/PROTOCOL.md has the table and a test walks
it. Hosted tools (web_search, file_search, ...) are run by OpenAI's servers, not by the client:
this server cannot run them, so they are left out of the model's tools and named in a response
header (HOSTED_TOOLS), which keeps agents that always send one (Codex sends web_search) working.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.api.json_schema import check_schema
from gateway.engines.base import ResponseFormat, SamplingParams, ToolChoice
from gateway.api.request_fields import check_fields
from gateway.errors import bad_request
from gateway.serving import ChatRequest, Usage

INT32_MAX = 2**31 - 1

IGNORED_FIELDS = frozenset(
    {"user", "metadata", "safety_identifier", "service_tier", "prompt_cache_key", "prompt_cache_retention",
     "client_metadata", "stream_options"}
)
# Would change the answer and this server cannot do it; a null, false or empty value is absent.
REJECTED_FIELDS = {
    "background": "background responses are not supported; send the request and wait (or stream)",
    "conversation": "conversations are not supported; chain responses with previous_response_id",
    "prompt": "stored prompt templates are not supported; send instructions and input",
    "max_tool_calls": "max_tool_calls is not supported",
    "top_logprobs": "logprobs are not supported on /v1/responses; use /v1/chat/completions",
}
# `include` entries: what they ask for only exists for hosted tools, images or encrypted
# reasoning (which this server never produces), so asking changes nothing.
HARMLESS_INCLUDES = frozenset(
    {"reasoning.encrypted_content", "web_search_call.action.sources", "web_search_call.results",
     "code_interpreter_call.outputs", "computer_call_output.output.image_url", "file_search_call.results",
     "message.input_image.image_url"}
)
# Tools that OpenAI's servers run (the client only names them): left out, named in a header.
HOSTED_TOOLS = frozenset(
    {"web_search", "web_search_preview", "web_search_preview_2025_03_11", "web_search_2025_08_26",
     "file_search", "code_interpreter", "image_generation", "computer_use_preview", "computer_use",
     "mcp", "local_shell", "tool_search"}
)
FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
EFFORTS = {"low": "low", "medium": "medium", "high": "high"}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class JsonSchemaTextFormat(_Wire):
    type: Literal["json_schema"]
    name: str = "output"
    schema_: dict[str, Any] = Field(..., alias="schema")
    description: Optional[str] = None
    strict: Optional[bool] = None


class PlainTextFormat(_Wire):
    type: Literal["text", "json_object"]


class TextConfig(_Wire):
    format: Union[JsonSchemaTextFormat, PlainTextFormat, None] = Field(None, discriminator="type")
    verbosity: Optional[str] = None  # OpenAI's own models' knob: a value is a 400 (text.verbosity)


class ReasoningConfig(_Wire):
    effort: Optional[Literal["low", "medium", "high"]] = None
    # Reasoning comes back as reasoning_text content; no summary is written (as vLLM does).
    summary: Optional[Literal["auto", "concise", "detailed"]] = None
    generate_summary: Optional[Literal["auto", "concise", "detailed"]] = None


@dataclass
class Decoded:
    """A request decoded: the conversation's neutral messages (without `instructions`, which do
    not carry over to a follow-up response), and the hosted tools left out."""

    request: ChatRequest
    conversation: list[dict[str, Any]]
    omitted_tools: list[str] = field(default_factory=list)
    # Namespaced tools (Codex's `namespace` entries), by function name: calls name them back.
    namespaces: dict[str, str] = field(default_factory=dict)


class ResponsesRequest(_Wire):
    model: Optional[str] = None
    input: Union[str, list[dict[str, Any]]] = Field(default_factory=list)
    instructions: Optional[str] = None
    tools: Optional[list[dict[str, Any]]] = None
    tool_choice: Union[Literal["none", "auto", "required"], dict[str, Any], None] = None
    parallel_tool_calls: Optional[bool] = None
    text: Optional[TextConfig] = None
    reasoning: Optional[ReasoningConfig] = None
    max_output_tokens: Optional[int] = Field(None, ge=1, le=INT32_MAX)
    temperature: Optional[float] = Field(None, ge=0, le=2)
    top_p: Optional[float] = Field(None, gt=0, le=1)
    # vLLM's extras, as on chat completions.
    top_k: Optional[int] = Field(None, ge=-1, le=INT32_MAX)
    min_p: Optional[float] = Field(None, ge=0, le=1)
    repetition_penalty: Optional[float] = Field(None, gt=0, le=10)
    seed: Optional[int] = Field(None, ge=-(2**63), le=2**64 - 1)
    stream: bool = False
    store: bool = True
    previous_response_id: Optional[str] = None
    include: Optional[list[str]] = None
    # "auto" drops the oldest turns to fit the window (the history window); "disabled" (the
    # default) answers a prompt too long with context_length_exceeded.
    truncation: Optional[Literal["auto", "disabled"]] = None

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        check_fields(data, cls.model_fields, IGNORED_FIELDS, REJECTED_FIELDS, empty=(None, False, 0, {}, []))
        return data

    @model_validator(mode="after")
    def _check(self) -> "ResponsesRequest":
        for i, entry in enumerate(self.include or ()):
            if entry not in HARMLESS_INCLUDES:
                raise bad_request(
                    f"include[{i}]: {entry!r} is not supported (logprobs: use /v1/chat/completions)",
                    param="include", code="unsupported_value",
                )
        if self.text is not None and self.text.verbosity is not None:
            raise bad_request("text.verbosity: not supported", param="text.verbosity", code="unsupported_field")
        fmt = self.text.format if self.text else None
        if isinstance(fmt, JsonSchemaTextFormat):
            check_schema(fmt.schema_, "text.format.schema")
        return self

    # ---- decoding -----------------------------------------------------------------------
    def decode(self, history: list[dict[str, Any]]) -> Decoded:
        """`history`: the stored conversation of previous_response_id (empty without one)."""
        conversation = history + _input_messages(self.input)
        messages = list(conversation)
        if self.instructions:
            messages.insert(0, {"role": "system", "content": self.instructions})
        if not messages:
            raise bad_request("input: required (a string or a list of items)", param="input")
        tools, omitted, namespaces = _tools(self.tools or [])
        effort = self.reasoning.effort if self.reasoning else None
        model = self.model
        if model is not None and model.endswith(":latest"):
            model = model.removesuffix(":latest")  # Ollama's tag: Codex --oss names the model so
        request = ChatRequest(
            messages=messages,
            sampling=SamplingParams(
                max_tokens=self.max_output_tokens, temperature=self.temperature, top_p=self.top_p,
                top_k=self.top_k, min_p=self.min_p, repetition_penalty=self.repetition_penalty, seed=self.seed,
            ),
            model=model,
            history_window=-1 if self.truncation == "auto" else None,
            reasoning_effort=EFFORTS.get(effort) if effort else None,
            tools=tools,
            tool_choice=self._tool_choice(bool(tools)),
            parallel_tool_calls=self.parallel_tool_calls is not False,
            response_format=self._response_format(),
        )
        return Decoded(request, conversation, omitted, namespaces)

    def _tool_choice(self, has_tools: bool) -> ToolChoice:
        choice = self.tool_choice
        if choice is None:
            return ToolChoice("auto" if has_tools else "none")
        if isinstance(choice, str):
            return ToolChoice(choice)
        kind = choice.get("type")
        if kind == "function" and isinstance(choice.get("name"), str):
            return ToolChoice("function", choice["name"])
        raise bad_request(
            f"tool_choice: {json.dumps(choice)[:200]} is not supported; send none, auto, required or "
            '{"type": "function", "name": ...}', param="tool_choice",
        )

    def _response_format(self) -> Optional[ResponseFormat]:
        fmt = self.text.format if self.text else None
        if fmt is None or fmt.type == "text":
            return None
        if isinstance(fmt, JsonSchemaTextFormat):
            return ResponseFormat("json_schema", fmt.schema_, fmt.name)
        return ResponseFormat("json_object")


def _tools(entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str], dict[str, str]]:
    tools: list[dict[str, Any]] = []
    omitted: list[str] = []
    namespaces: dict[str, str] = {}

    def function(entry: Any, where: str, namespace: Optional[str] = None) -> None:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not FUNCTION_NAME.fullmatch(name):
            raise bad_request(
                f"{where}.name: required, 1 to 64 letters, digits, _ or -", param=f"{where}.name"
            )
        tool: dict[str, Any] = {"name": name}
        description, parameters = entry.get("description"), entry.get("parameters")
        if description is not None and not isinstance(description, str):
            raise bad_request(f"{where}.description: must be a string", param=f"{where}.description")
        if description:
            tool["description"] = description
        if parameters is not None:
            if not isinstance(parameters, dict):
                raise bad_request(f"{where}.parameters: must be a JSON Schema object", param=f"{where}.parameters")
            check_schema(parameters, f"{where}.parameters")
            tool["parameters"] = parameters
        tools.append(tool)
        if namespace:
            namespaces[name] = namespace

    for i, entry in enumerate(entries):
        kind = entry.get("type")
        where = f"tools[{i}]"
        if kind == "function":
            function(entry, where)
        elif kind == "namespace":
            # Codex groups some of its function tools: each is still a function the client runs.
            inner_tools = entry.get("tools") or []
            if not isinstance(inner_tools, list):
                raise bad_request(f"{where}.tools: must be a list of function tools", param=f"{where}.tools")
            for j, inner in enumerate(inner_tools):
                if not isinstance(inner, dict) or inner.get("type") != "function":
                    raise bad_request(f"{where}.tools[{j}].type: only function tools", param=f"{where}.tools[{j}].type")
                function(inner, f"{where}.tools[{j}]", entry.get("name"))
        elif kind in HOSTED_TOOLS:
            omitted.append(kind)
        else:
            raise bad_request(
                f"{where}.type: {kind!r} tools are not supported (function tools are; hosted tools are left out)",
                param=f"{where}.type", code="unsupported_value",
            )
    return tools, omitted, namespaces


# ---- input items -> neutral chat messages -------------------------------------------------
_TEXT_PARTS = ("input_text", "output_text", "text", "summary_text", "reasoning_text")


def _text(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(f"{where}: a string or a list of text parts", param=where)
    out = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            out.append(str(part.get("text") or ""))
        elif kind == "refusal":
            out.append(str(part.get("refusal") or ""))
        else:
            raise bad_request(
                f"{where}[{j}]: content of type {kind!r} is not supported; this model reads text only",
                param=f"{where}[{j}].type", code="unsupported_value",
            )
    return "".join(out)


def _input_messages(value: Union[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise bad_request(f"{where}: an item must be an object", param=where)
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise bad_request(f"{where}.role: unknown role {role!r}", param=f"{where}.role")
            text = _text(item.get("content"), f"{where}.content")
            last = messages[-1] if messages else None
            if role == "assistant" and last and last["role"] == "assistant" and not last.get("tool_calls"):
                last["content"] += text  # one assistant turn given as several message items
                continue
            messages.append({"role": "system" if role == "developer" else role, "content": text})
        elif kind == "function_call":
            call_id, name = item.get("call_id"), item.get("name")
            if not isinstance(call_id, str) or not isinstance(name, str):
                raise bad_request(f"{where}: a function_call needs call_id and name", param=where)
            arguments = item.get("arguments") or ""
            try:
                json.loads(arguments or "{}")
            except (TypeError, ValueError):
                raise bad_request(f"{where}.arguments: must be a JSON text", param=f"{where}.arguments") from None
            call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            last = messages[-1] if messages else None
            if last and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)  # text, then the calls, is one turn
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise bad_request(f"{where}.call_id: required", param=f"{where}.call_id")
            output = item.get("output")
            text = output if isinstance(output, str) else _text(output, f"{where}.output")
            messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
        elif kind == "reasoning":
            # Accepted back and left out of the prompt: chat templates (and harmony) drop the
            # reasoning of past turns; encrypted_content is never ours to read.
            continue
        else:
            raise bad_request(
                f"{where}.type: {kind!r} items are not supported (message, function_call, "
                "function_call_output and reasoning are)", param=f"{where}.type", code="unsupported_value",
            )
    return messages


# ---- the response object ------------------------------------------------------------------
class Out(BaseModel):
    def dump(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=False)


class InputTokensDetails(Out):
    cached_tokens: int


class OutputTokensDetails(Out):
    reasoning_tokens: int


class ResponseUsage(Out):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int

    @classmethod
    def of(cls, usage: Usage) -> "ResponseUsage":
        # Reasoning tokens are not counted apart from the rest of the output by the engines.
        return cls(
            input_tokens=usage.prompt_tokens,
            input_tokens_details=InputTokensDetails(cached_tokens=usage.cached_tokens),
            output_tokens=usage.completion_tokens,
            output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
            total_tokens=usage.total_tokens,
        )


def error_body(message: str, type_: str, param: Optional[str], code: Optional[str]) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
