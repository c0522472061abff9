"""Pydantic models of the OpenAI wire format (requests), with the vLLM extras we accept.

Unknown fields are ignored, not rejected: clients send many (user, logit_bias, tools, ...).
Out-of-range values are rejected with the field named, as OpenAI and vLLM do.
"""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Upper bound on choices per request: n fans out to that many engine sequences.
MAX_N = 16


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
    top_k: Optional[int] = Field(None, ge=-1)
    min_p: Optional[float] = Field(None, ge=0, le=1)
    repetition_penalty: Optional[float] = Field(None, gt=0, le=10)
    presence_penalty: Optional[float] = Field(None, ge=-2, le=2)
    frequency_penalty: Optional[float] = Field(None, ge=-2, le=2)
    seed: Optional[int] = None
    stop: Union[str, list[str], None] = None
    max_tokens: Optional[int] = Field(None, ge=1)
    n: int = Field(1, ge=1, le=MAX_N)
    stream: bool = False
    stream_options: Optional[StreamOptions] = None
    ignore_eos: bool = False
    # vLLM's: keep only the last N prompt tokens. Here -1 means the configured history window.
    truncate_prompt_tokens: Optional[int] = Field(None, ge=-1)

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


class ChatCompletionRequest(_SamplingFields):
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_completion_tokens: Optional[int] = Field(None, ge=1)
    reasoning_effort: Optional[Literal["low", "medium", "high"]] = None

    @property
    def output_limit(self) -> Optional[int]:
        return self.max_completion_tokens or self.max_tokens


class FimFile(_Wire):
    path: str
    content: str


class CompletionRequest(_SamplingFields):
    prompt: Union[str, list[str]]
    # OpenAI's and vLLM's default for /v1/completions: a client that sends no limit gets a short answer.
    max_tokens: Optional[int] = Field(16, ge=1)
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

    @property
    def output_limit(self) -> Optional[int]:
        return self.max_tokens

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)
