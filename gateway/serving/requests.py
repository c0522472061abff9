"""Wire-neutral requests: what a wire module (OpenAI, Ollama, ...) decodes its request into."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from gateway.engines.base import ResponseFormat, SamplingParams, ToolChoice


@dataclass
class Retrieval:
    """Answer from a knowledge base: its `top_k` chunks nearest to the last user message."""

    collection: str
    top_k: int = 4


@dataclass
class ChatRequest:
    # {"role", "content"} with text content; roles as the chat template knows them. An assistant
    # message may carry "tool_calls" ([{"id", "type": "function", "function": {"name",
    # "arguments"}}]); a "tool" message carries "tool_call_id".
    messages: list[dict[str, Any]]
    sampling: SamplingParams  # max_tokens None: model.default_max_tokens, else to the context's end
    model: Optional[str] = None  # None: the served model
    n: int = 1
    # None: the whole history or a 400; -1: model.history_window_tokens; N > 0: N tokens.
    # Oldest turns are dropped first to fit.
    history_window: Optional[int] = None
    reasoning_effort: Optional[str] = None
    # Extra variables for the chat template, where the engine renders it (vLLM's and llama.cpp's field).
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)
    ignore_eos: bool = False
    retrieval: Optional[Retrieval] = None
    # Function tools, each {"name", "description"?, "parameters"?}.
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    parallel_tool_calls: bool = True
    response_format: Optional[ResponseFormat] = None
    logprobs: Optional[int] = None  # None: off; N: with N alternatives per token


@dataclass
class TextRequest:
    """Raw completion of each prompt, or fill-in-the-middle when `suffix` is given."""

    prompts: list[str]
    sampling: SamplingParams
    model: Optional[str] = None
    n: int = 1  # choices per prompt
    suffix: Optional[str] = None
    # (path, content) of other files, for FIM families that take repository context.
    files: list[tuple[str, str]] = field(default_factory=list)
    echo: bool = False  # put the prompt before the generated text
    ignore_eos: bool = False
    logprobs: Optional[int] = None  # None: off; N: with N alternatives per token
    response_format: Optional[ResponseFormat] = None
