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

    # POST /tokenize and /detokenize (vLLM's shapes): what a gateway in front of this one reads.
    async def encode_prompt(self, text: str) -> list[int]:
        """`text` as a completion prompt reaches the model: with the special tokens (a BOS) the
        model's tokenizer adds to a prompt, and special-token text parsed as such."""
        raise NotImplementedError(f"{type(self).__name__} cannot tokenize a prompt with its special tokens")

    async def decode(self, tokens: list[int]) -> str:
        """The text of `tokens`, special tokens written out. Raises TokenIdError for an id
        outside the vocabulary."""
        raise NotImplementedError(f"{type(self).__name__} cannot decode")

    async def token_strs(self, tokens: list[int]) -> list[str]:
        """Each token's own string (a special token is its text)."""
        return [await self.decode([t]) for t in tokens]

    async def info(self) -> dict[str, Any]:
        """GET /tokenizer_info (vLLM's shape: the tokenizer's configuration): at least
        `tokenizer_class`, `model_max_length`, `bos_token`, `eos_token` and `chat_template` (None
        where the model has none). lm-evaluation-harness's remote tokenizer reads it."""
        raise NotImplementedError(f"{type(self).__name__} has no tokenizer configuration to report")


class TokenIdError(ValueError):
    """A token id that is not in the model's vocabulary (a 400 for the client)."""

    def __init__(self, token: int, vocab_size: int | None = None):
        self.token, self.vocab_size = token, vocab_size
        within = f" (ids are 0 to {vocab_size - 1})" if vocab_size else ""
        super().__init__(f"token id {token} is not in the model's vocabulary{within}")


def check_ids(tokens: list[int], vocab_size: int) -> None:
    for t in tokens:
        if not 0 <= t < vocab_size:
            raise TokenIdError(t, vocab_size)
