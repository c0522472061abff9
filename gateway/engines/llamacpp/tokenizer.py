"""The model's tokenizer and chat template, asked of llama.cpp's own listener (listener.py):
xllamacpp has no in-process call for either."""
from __future__ import annotations

from typing import Any, Optional

import aiohttp

from gateway.engines.base import Tokenizer
from gateway.engines.llamacpp.listener import PrivateListener
from gateway.engines.llamacpp.serving_gate import ServingGate
from gateway.prompts.tokenizer import check_ids


class LlamaCppTokenizer(Tokenizer):
    """The model's tokenizer and chat template, through llama.cpp's loopback listener."""

    def __init__(self, listener: PrivateListener, context_length: int, gate: Optional[ServingGate] = None):
        self._listener = listener
        self._gate = gate or ServingGate()  # the engine's: a restart waits for calls in flight
        self.context_length = context_length
        self._session: Optional[aiohttp.ClientSession] = None
        self._special: Optional[set[str]] = None
        self._n_vocab: Optional[int] = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = self._listener.session()
        return self._session

    async def reconnect(self) -> None:
        """The server is being replaced (a new socket): the next call opens a new session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, path: str, body: dict) -> Any:
        async with self._gate.admitted():
            return await self._post_admitted(path, body)

    async def _post_admitted(self, path: str, body: dict) -> Any:
        # Every call here is idempotent (tokenize, detokenize, templates): a pooled connection
        # that the server closed as it was reused is retried once on a fresh one.
        for attempt in (1, 2):
            try:
                async with self._client().post("http://llama.cpp" + path, json=body) as resp:
                    resp.raise_for_status()
                    return await resp.json()
            except aiohttp.ServerDisconnectedError:
                if attempt == 2:
                    raise

    async def encode(self, text: str, *, special: bool = True) -> list[int]:
        out = await self._post("/tokenize", {"content": text, "add_special": False, "parse_special": special})
        return out["tokens"]

    async def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        out = await self._post("/apply-template", {"messages": messages, **kwargs})
        return out["prompt"]

    async def encode_prompt(self, text: str) -> list[int]:
        return (await self._post("/tokenize", {"content": text, "add_special": True, "parse_special": True}))["tokens"]

    async def decode(self, tokens: list[int]) -> str:
        # llama.cpp does not check ids: one outside the vocabulary is an exception (a 500) there.
        check_ids(tokens, await self._vocab_size())
        return (await self._post("/detokenize", {"tokens": tokens}))["content"]

    async def _vocab_size(self) -> int:
        if self._n_vocab is None:
            async with self._gate.admitted(), self._client().get("http://llama.cpp/v1/models") as resp:
                resp.raise_for_status()
                self._n_vocab = int((await resp.json())["data"][0]["meta"]["n_vocab"])
        return self._n_vocab

    async def _props(self) -> dict[str, Any]:
        async with self._gate.admitted(), self._client().get("http://llama.cpp/props") as resp:
            resp.raise_for_status()
            return await resp.json()

    async def template_renders_tools(self) -> bool:
        """Whether the chat template shows tools to the model (llama.cpp's own analysis of it)."""
        props = await self._props()
        return bool((props.get("chat_template_caps") or {}).get("supports_tools"))

    async def info(self) -> dict[str, Any]:
        props = await self._props()
        return {
            "tokenizer_class": "llama.cpp",
            "model_max_length": self.context_length,
            "bos_token": props.get("bos_token") or None,
            "eos_token": props.get("eos_token") or None,
            "chat_template": props.get("chat_template") or None,
        }

    async def special_tokens(self) -> set[str]:
        """The known control tokens (FIM, file, chat markers) this vocabulary has as single tokens.

        llama.cpp's API has no vocabulary listing, so each candidate is tokenized with special
        parsing on: a control token comes back as one token whose piece is itself.
        """
        if self._special is None:
            from gateway.prompts.fim import FAMILIES

            candidates = {t for fam in FAMILIES.values() for t in (*fam.detect_tokens, *fam.stop)}
            found = set()
            for token in sorted(candidates):
                out = await self._post("/tokenize", {"content": token, "parse_special": True, "with_pieces": True})
                pieces = out["tokens"]
                if len(pieces) == 1 and pieces[0].get("piece") == token:
                    found.add(token)
            self._special = found
        return self._special

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
