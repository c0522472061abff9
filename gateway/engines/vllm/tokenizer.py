"""The model's tokenizer as the vllm engine uses it: Hugging Face's (as vLLM loaded it), or
harmony's rendering for gpt-oss chat; long texts are encoded off the event loop."""
from __future__ import annotations

import asyncio
import functools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

from gateway.engines import base

# One logger for the whole engine package: log lines read `gateway.engines.vllm: ...`.
log = logging.getLogger("gateway.engines.vllm")

# Prompts longer than this (characters) are tokenized in a worker thread, with a tokenizer call
# that releases the GIL, so the event loop keeps streaming other requests meanwhile (a 1,024-token
# prompt takes ~3.6 ms to encode, and the Hugging Face `encode` path holds the GIL throughout).
INLINE_TOKENIZE_CHARS = 1_024


class VllmTokenizer(base.Tokenizer):
    """The model's Hugging Face tokenizer (as vLLM loaded it); harmony for gpt-oss chat.

    Long texts are encoded in a small thread pool through a private copy of the Rust tokenizer
    (`tokenizers.Tokenizer.encode_batch`, which releases the GIL); the copy is checked against the
    Hugging Face tokenizer once and not used if the two disagree.
    """

    def __init__(self, hf_tokenizer: Any, context_length: int, harmony: bool = False):
        self.hf = hf_tokenizer
        self.context_length = context_length
        self.harmony = harmony
        self._specials: Optional[set[str]] = None
        self._local = threading.local()
        self._raw_json: Optional[str] = None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="oss-sidecar-tokenize")
        try:
            backend = getattr(hf_tokenizer, "backend_tokenizer", None)  # fast tokenizers only
            if backend is not None and type(backend).__module__.split(".")[0] == "tokenizers":
                self._raw_json = backend.to_str()
                probe = "Hello, world!\n  def f(x):\treturn x  # ü 😀"
                if self._raw_encode(probe, False) != list(hf_tokenizer.encode(probe, add_special_tokens=False)):
                    self._raw_json = None
        except Exception as exc:  # any doubt: the Hugging Face path only
            log.debug("no GIL-free tokenizer copy: %s", exc)
            self._raw_json = None

    def _raw_encode(self, text: str, add_bos: bool) -> list[int]:
        raw = getattr(self._local, "raw", None)
        if raw is None:
            from tokenizers import Tokenizer

            raw = Tokenizer.from_str(self._raw_json)
            raw.no_truncation()
            raw.no_padding()
            self._local.raw = raw
        return list(raw.encode_batch([text], add_special_tokens=add_bos)[0].ids)

    def encode_sync(self, text: str, *, special: bool = True, add_bos: bool = False,
                    release_gil: bool = False) -> list[int]:
        if release_gil and special and self._raw_json is not None:
            try:
                return self._raw_encode(text, add_bos)
            except Exception as exc:
                log.warning("GIL-free tokenizer copy failed (%s); using the Hugging Face tokenizer", exc)
                self._raw_json = None
        try:
            return list(self.hf.encode(text, add_special_tokens=add_bos, split_special_tokens=not special))
        except TypeError:
            return list(self.hf.encode(text, add_special_tokens=add_bos))

    async def off_loop(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def encode(self, text: str, *, special: bool = True) -> list[int]:
        if len(text) > INLINE_TOKENIZE_CHARS:
            return await self.off_loop(self.encode_sync, text, special=special, release_gil=True)
        return self.encode_sync(text, special=special)

    async def encode_prompt(self, text: str) -> list[int]:
        return await self.off_loop(self.encode_sync, text, add_bos=True)

    async def decode(self, tokens: list[int]) -> str:
        base.check_ids(tokens, len(self.hf))
        return await self.off_loop(self.hf.decode, tokens)

    async def token_strs(self, tokens: list[int]) -> list[str]:
        base.check_ids(tokens, len(self.hf))
        return [str(t) for t in self.hf.convert_ids_to_tokens(tokens)]

    def render_chat_sync(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        if self.harmony:
            from gateway.prompts import harmony

            return harmony.render_chat_text(messages, reasoning_effort=kwargs.get("reasoning_effort"))
        try:
            return self.hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)
        except Exception as exc:  # jinja errors: a message the template does not accept
            if type(exc).__name__ in ("TemplateError", "TemplateSyntaxError", "UndefinedError", "ValueError"):
                raise ValueError(f"messages: the model's chat template rejected them: {exc}") from None
            raise

    async def info(self) -> dict[str, Any]:
        # vLLM's own /tokenizer_info reports the Hugging Face tokenizer's settings; these are the
        # ones a client reads.
        return {
            "tokenizer_class": type(self.hf).__name__,
            "model_max_length": self.context_length,
            "bos_token": getattr(self.hf, "bos_token", None),
            "eos_token": getattr(self.hf, "eos_token", None),
            "chat_template": getattr(self.hf, "chat_template", None),
        }

    async def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        return self.render_chat_sync(messages, **kwargs)

    async def special_tokens(self) -> set[str]:
        if self._specials is None:
            specials = set(getattr(self.hf, "all_special_tokens", []) or [])
            try:
                for tok in self.hf.added_tokens_decoder.values():
                    if getattr(tok, "special", False):
                        specials.add(str(tok.content))
            except Exception:
                pass
            if self.harmony:
                from gateway.prompts import harmony

                specials |= harmony.special_tokens()
            self._specials = specials
        return self._specials

    def special_token_id(self, text: str) -> Optional[int]:
        """The id of `text` when it is one special token of the vocabulary (as found by
        `special_tokens()`, which the engine awaits at start), else None."""
        if text not in (self._specials or ()):
            return None
        try:
            tid = self.hf.convert_tokens_to_ids(text)
        except Exception:
            return None
        if isinstance(tid, int) and tid >= 0 and tid != getattr(self.hf, "unk_token_id", None):
            return tid
        return None

    def close(self) -> None:
        """Let the tokenizing threads end once their work is done, without waiting for them."""
        self._pool.shutdown(wait=False)
