"""The model's tokenizer and chat template, as prompts and serving need them.

Engines provide an implementation (llama.cpp's, vLLM's Hugging Face tokenizer); prompt
code depends only on this protocol, never on an engine.
"""
from __future__ import annotations

import abc
from typing import Any


class PromptTooLongError(ValueError):
    """The prompt does not fit the model's context (a 400 for the client)."""

    def __init__(self, prompt_tokens: int, limit: int, param: str = "messages"):
        self.prompt_tokens, self.limit, self.param = prompt_tokens, limit, param
        super().__init__(
            f"This model's maximum context length is {limit} tokens. However, your request has "
            f"{prompt_tokens} input tokens. Please reduce the length of the {param}."
        )


def template_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Function tools ({"name", "description"?, "parameters"?}) as chat templates take them
    (OpenAI's `{"type": "function", "function": ...}`)."""
    return [{"type": "function", "function": tool} for tool in tools]


class Tokenizer(abc.ABC):
    """The model's own tokenizer and chat template."""

    context_length: int

    @abc.abstractmethod
    async def encode(self, text: str, *, special: bool = True) -> list[int]: ...

    async def count(self, text: str) -> int:
        return len(await self.encode(text))

    @abc.abstractmethod
    async def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        """The prompt text the model sees for `messages`, with the generation prompt added."""

    async def count_chat(self, messages: list[dict[str, Any]], **kwargs: Any) -> int:
        """Tokens of the prompt the model sees for `messages` (a remote tokenizer may count in one
        call); `kwargs` go to the template (`tools`)."""
        return await self.count(await self.apply_chat_template(messages, **kwargs))

    @abc.abstractmethod
    async def special_tokens(self) -> set[str]:
        """Control/special token strings of the vocabulary (FIM family detection)."""
