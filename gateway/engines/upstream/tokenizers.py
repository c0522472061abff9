"""The model's tokenizer for the `upstream` engine: the upstream's own where it has one.

* vLLM's server and another oss-sidecar: POST /tokenize {"prompt"} or {"messages"} (its own chat
  template, so a chat's count is exactly what it will see) and POST /detokenize.
* llama.cpp's server: POST /tokenize {"content"}, /detokenize, /apply-template {"messages"}.
* anything else (most hosted APIs): a local tokenizer.json through the `tokenizers` library
  (`upstream.tokenizer`), with the chat template from the same folder.

Which one is found once at start, by asking the upstream; `upstream.tokenizer`, when set, wins.
"""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

from gateway.prompts.tokenizer import Tokenizer, check_ids

log = logging.getLogger(__name__)

# POST a JSON body to an upstream server that is up; returns the decoded answer.
PostJson = Callable[[str, dict], Awaitable[Any]]


class UpstreamStatusError(Exception):
    """An upstream answered with a non-2xx status."""

    def __init__(self, url: str, status: int, text: str):
        super().__init__(f"{url} answered {status}: {text[:300]}")
        self.status, self.text = status, text


def _fim_candidates() -> list[str]:
    from gateway.prompts.fim import FAMILIES

    return sorted({t for fam in FAMILIES.values() for t in (*fam.detect_tokens, *fam.stop)})


class VllmServerTokenizer(Tokenizer):
    def __init__(self, post: PostJson, model: str, context_length: int):
        self._post, self._model, self.context_length = post, model, context_length
        self._special: Optional[set[str]] = None

    async def encode(self, text: str, *, special: bool = True) -> list[int]:
        # vLLM always parses special tokens in text; `special` cannot be turned off there.
        out = await self._post("/tokenize", {"model": self._model, "prompt": text, "add_special_tokens": False})
        return out["tokens"]

    async def encode_prompt(self, text: str) -> list[int]:
        return (await self._post("/tokenize", {"model": self._model, "prompt": text, "add_special_tokens": True}))["tokens"]

    async def decode(self, tokens: list[int]) -> str:
        try:
            return (await self._post("/detokenize", {"model": self._model, "tokens": tokens}))["prompt"]
        except UpstreamStatusError as exc:
            if exc.status == 400:  # its answer names what is wrong (an id outside the vocabulary)
                raise ValueError(f"tokens: the upstream refused them: {_message(exc.text)}") from None
            raise

    async def _chat_tokens(self, messages: list[dict[str, Any]], **kwargs: Any) -> list[int]:
        body = {"model": self._model, "messages": messages, "add_generation_prompt": True, **kwargs}
        return (await self._post("/tokenize", body))["tokens"]

    async def count_chat(self, messages: list[dict[str, Any]], **kwargs: Any) -> int:
        return len(await self._chat_tokens(messages, **kwargs))

    async def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        tokens = await self._chat_tokens(messages, **kwargs)
        return (await self._post("/detokenize", {"model": self._model, "tokens": tokens}))["prompt"]

    async def special_tokens(self) -> set[str]:
        if self._special is None:
            found = set()
            for token in _fim_candidates():
                out = await self._post(
                    "/tokenize",
                    {"model": self._model, "prompt": token, "add_special_tokens": False, "return_token_strs": True},
                )
                if out.get("token_strs") == [token]:
                    found.add(token)
            self._special = found
        return self._special


class LlamaCppServerTokenizer(Tokenizer):
    def __init__(self, post: PostJson, context_length: int, vocab_size: Optional[int] = None):
        self._post, self.context_length, self._vocab_size = post, context_length, vocab_size
        self._special: Optional[set[str]] = None

    async def encode(self, text: str, *, special: bool = True) -> list[int]:
        out = await self._post("/tokenize", {"content": text, "add_special": False, "parse_special": special})
        return out["tokens"]

    async def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        return (await self._post("/apply-template", {"messages": messages, **kwargs}))["prompt"]

    async def encode_prompt(self, text: str) -> list[int]:
        return (await self._post("/tokenize", {"content": text, "add_special": True, "parse_special": True}))["tokens"]

    async def decode(self, tokens: list[int]) -> str:
        # llama.cpp's server does not check ids (one outside the vocabulary is a 500 there).
        if self._vocab_size:
            check_ids(tokens, self._vocab_size)
        else:
            check_ids(tokens, 2**31)  # at least no negative id
        return (await self._post("/detokenize", {"tokens": tokens}))["content"]

    async def special_tokens(self) -> set[str]:
        """llama.cpp lists no vocabulary: a control token tokenizes to one piece that is itself."""
        if self._special is None:
            found = set()
            for token in _fim_candidates():
                out = await self._post("/tokenize", {"content": token, "parse_special": True, "with_pieces": True})
                pieces = out["tokens"]
                if len(pieces) == 1 and isinstance(pieces[0], dict) and pieces[0].get("piece") == token:
                    found.add(token)
            self._special = found
        return self._special


class LocalTokenizer(Tokenizer):
    """A tokenizer.json (Hugging Face `tokenizers`) and the chat template beside it."""

    def __init__(self, path: Path, context_length: int):
        from tokenizers import Tokenizer as HfTokenizer

        self.path = path
        self.context_length = context_length
        self._tok = HfTokenizer.from_file(str(path))
        config = _read_json(path.parent / "tokenizer_config.json")
        template = config.get("chat_template")
        jinja_file = path.parent / "chat_template.jinja"
        if not isinstance(template, str) and jinja_file.is_file():
            template = jinja_file.read_text(encoding="utf-8")
        self._template = _compile(template) if isinstance(template, str) else None
        self._template_text = template if isinstance(template, str) else None
        self._bos = _token_text(config.get("bos_token"))
        self._eos = _token_text(config.get("eos_token"))
        if self._template is None:
            log.warning(
                "no chat template beside %s (tokenizer_config.json or chat_template.jinja): chat prompts "
                "are counted as role and content only, so history windows are estimates", path
            )

    async def info(self) -> dict[str, Any]:
        return {"tokenizer_class": "tokenizers", "model_max_length": self.context_length, "bos_token": self._bos,
                "eos_token": self._eos, "chat_template": self._template_text}

    async def encode(self, text: str, *, special: bool = True) -> list[int]:
        if len(text) > 4096:  # long texts off the event loop
            return await asyncio.to_thread(self._encode, text)
        return self._encode(text)

    def _encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    async def encode_prompt(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=True).ids)

    async def decode(self, tokens: list[int]) -> str:
        check_ids(tokens, self._tok.get_vocab_size(with_added_tokens=True))
        return self._tok.decode(tokens, skip_special_tokens=False)

    async def token_strs(self, tokens: list[int]) -> list[str]:
        check_ids(tokens, self._tok.get_vocab_size(with_added_tokens=True))
        return [self._tok.id_to_token(t) for t in tokens]

    async def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        if self._template is None:
            return "".join(f"{m.get('role')}: {m.get('content') or ''}\n" for m in messages)
        return self._template.render(
            messages=messages, add_generation_prompt=True, bos_token=self._bos, eos_token=self._eos, **kwargs
        )

    async def special_tokens(self) -> set[str]:
        return {added.content for added in self._tok.get_added_tokens_decoder().values()}


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _message(text: str) -> str:
    """The message of an OpenAI-shaped error body, else the text itself."""
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return text[:300]
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return text[:300]


def _token_text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("content", ""))
    return value if isinstance(value, str) else ""


def _compile(template: str) -> Any:
    """A chat template, rendered as Hugging Face's apply_chat_template renders it (sandboxed)."""
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template)


def tokenizer_file(setting: str) -> Path:
    """upstream.tokenizer as a tokenizer.json path (a folder holding one is accepted)."""
    path = Path(setting).expanduser()
    return path / "tokenizer.json" if path.is_dir() else path


async def discover(
    post: PostJson, model: str, context_length: int, setting: Optional[str], url: str, vocab_size: Optional[int] = None
) -> Tokenizer:
    """The tokenizer to use: `upstream.tokenizer` if set, else the upstream's /tokenize."""
    if setting:
        return LocalTokenizer(tokenizer_file(setting), context_length)
    try:
        out = await post("/tokenize", {"model": model, "prompt": "Hello", "add_special_tokens": False})
        if isinstance(out, dict) and "count" in out and out.get("tokens"):
            log.info("tokenizer: %s's /tokenize (vLLM's shape)", url)
            return VllmServerTokenizer(post, model, context_length)
        out = await post("/tokenize", {"content": "Hello", "add_special": False})
        if isinstance(out, dict) and out.get("tokens"):
            log.info("tokenizer: %s's /tokenize (llama.cpp's shape)", url)
            return LlamaCppServerTokenizer(post, context_length, vocab_size)
    except UpstreamStatusError:
        pass
    from gateway.settings import ConfigError

    raise ConfigError(
        f"upstream.tokenizer: {url} has no /tokenize this gateway knows (vLLM's or llama.cpp's); "
        "set upstream.tokenizer to the model's tokenizer.json (or its folder)"
    )
