"""The size of the embedded engine's KV cache: one pool of `llamacpp.context_total` tokens that
every slot shares (llama.cpp's unified KV cache), each conversation capped at context_per_slot.

Sized from the model's GGUF header (layers, KV heads, head sizes), read here without loading
the model, so that `oss-sidecar doctor` can say it before anything starts.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from gateway.engines.gguf_header import GGUFHeaderError, read_metadata

# Bytes per element of each KV cache type llama.cpp offers here (q8_0: 32 values in 34 bytes).
BYTES_PER_ELEMENT = {"f16": 2.0, "q8_0": 34 / 32}
# llama.cpp pads the KV cache to a multiple of 256 cells (the flash-attention kernels' tile).
_PADDING = 256


@dataclass
class KVShape:
    """What one token of KV cache holds: per layer, the keys and values of every KV head."""

    layers: int
    kv_heads: int
    key_length: int
    value_length: int

    def bytes_for(self, tokens: int, cache_type: str) -> int:
        cells = -(-tokens // _PADDING) * _PADDING
        per_token = self.layers * self.kv_heads * (self.key_length + self.value_length)
        return int(cells * per_token * BYTES_PER_ELEMENT[cache_type])


def kv_shape(path: Path) -> KVShape:
    """The model's KV shape from its GGUF header. Raises GGUFHeaderError, OSError."""
    # The model's own keys come before the tokenizer's (and its long arrays).
    found = read_metadata(path, enough=lambda keys: next(reversed(keys)).startswith("tokenizer."))
    arch = found.get("general.architecture")
    try:
        heads = found[f"{arch}.attention.head_count"]
        head_size = found[f"{arch}.embedding_length"] // heads
        shape = KVShape(
            layers=found[f"{arch}.block_count"],
            kv_heads=found.get(f"{arch}.attention.head_count_kv", heads),
            key_length=found.get(f"{arch}.attention.key_length", head_size),
            value_length=found.get(f"{arch}.attention.value_length", head_size),
        )
        if not all(isinstance(v, int) for v in vars(shape).values()):  # per-layer arrays
            raise TypeError
        return shape
    except (KeyError, TypeError, ZeroDivisionError):
        raise GGUFHeaderError(f"{path}: the header does not give the attention's shape (architecture {arch})") from None


def kv_cache_bytes(path: Path, tokens: int, cache_type: str) -> Optional[int]:
    """The KV pool's size in bytes, or None when the header does not tell (an architecture whose
    per-layer shapes vary: the figure would be wrong, so none is given)."""
    try:
        return kv_shape(path).bytes_for(tokens, cache_type)
    except (GGUFHeaderError, OSError):
        return None


def mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"
