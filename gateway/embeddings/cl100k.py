"""OpenAI's cl100k_base token ids as text: how /v1/embeddings reads token-id input by default.

Clients written for OpenAI's embeddings endpoint send token ids of OpenAI's own tokenizer
(LangChain's OpenAIEmbeddings does by default: tiktoken's cl100k_base, cut to the context
length), which mean nothing as another model's vocabulary ids. Decoding them needs only the
vocabulary (each id is a byte string): it comes from `quicktok-v1`, which bundles it, read
once and checked against the sha256 tiktoken expects of the file OpenAI publishes.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import threading
from pathlib import Path
from typing import Optional

from gateway.prompts.harmony.vocab import quicktok_to_tiktoken

CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"

_lock = threading.Lock()
_pieces: Optional[list[bytes]] = None


class Cl100kUnavailable(RuntimeError):
    """The vocabulary is not on this machine; the message says what to install."""


def _vocab_file() -> Path:
    spec = importlib.util.find_spec("quicktok")
    if spec is None or not spec.submodule_search_locations:
        raise Cl100kUnavailable("reading token ids as OpenAI's cl100k_base needs quicktok-v1 (pip install quicktok-v1)")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "cl100k.vocab"


def pieces() -> list[bytes]:
    """The byte string of every cl100k_base id (special tokens excluded), loaded once."""
    global _pieces
    if _pieces is None:
        with _lock:
            if _pieces is None:
                text = quicktok_to_tiktoken(_vocab_file().read_bytes())
                if hashlib.sha256(text).hexdigest() != CL100K_SHA256:
                    raise Cl100kUnavailable("quicktok-v1's cl100k_base vocabulary is not OpenAI's (sha256 differs)")
                table: list[bytes] = []
                for line in text.splitlines():
                    token, rank = line.split()
                    assert int(rank) == len(table)  # ranks run 0..N-1 in order
                    table.append(base64.b64decode(token))
                _pieces = table
    return _pieces


def decode(ids: list[int]) -> str:
    """The text the ids encode. A character cut between two requests' chunks (LangChain splits
    long texts at token boundaries) becomes U+FFFD."""
    table = pieces()
    return b"".join(table[i] for i in ids).decode("utf-8", errors="replace")
