"""Errors answered to the client, wire-neutral: a status and what went wrong.

Each wire module renders them in its own error body (OpenAI's
`{"error": {"message", "type", "param", "code"}}` in gateway/api/openai/protocol.py).
"""
from __future__ import annotations

from typing import Optional

from pydantic import ValidationError


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: Optional[str] = None,
        code: Optional[str] = None,
        headers: Optional[dict[str, str]] = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}


class ContextLengthExceeded(ApiError):
    """A prompt that leaves no room for output in the model's window. It carries both counts so
    each wire words it its own way: OpenAI's 400 `context_length_exceeded` (this message is
    OpenAI's), Ollama's `{"error"}` line, Anthropic's `invalid_request_error`."""

    def __init__(self, prompt_tokens: int, limit: int, param: str = "messages"):
        super().__init__(
            400,
            f"This model's maximum context length is {limit} tokens. However, your {param} resulted in "
            f"{prompt_tokens} tokens. Please reduce the length of the {param}.",
            param=param,
            code="context_length_exceeded",
        )
        self.prompt_tokens, self.limit = prompt_tokens, limit


def bad_request(message: str, param: Optional[str] = None, code: Optional[str] = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def _param_of(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "list[TextPart]", "list[str]", "function-after[_only_text_parts(), union[str,list[TextPart],none]]"):
            continue  # union branch names, not fields
        else:
            out += ("." if out else "") + str(part)
    return out


def from_validation_error(err: ValidationError) -> ApiError:
    first = err.errors()[0]
    # Union failures list one error per branch; the field is what the client needs.
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and ("[" in p or p in ("str", "int", "float", "bool", "none"))))
    param = _param_of(loc) or None
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        msg = "field required"
    if first["type"] == "literal_error" and param and param.endswith("role"):
        msg = f"unknown role {first.get('input')!r}; expected one of system, developer, user, assistant, tool"
    return ApiError(400, f"{param}: {msg}" if param else msg, param=param, code="invalid_value")
