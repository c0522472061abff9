"""A GGUF file's metadata (its header's key/value pairs), read without loading the model, without
numpy and without keeping the tokenizer's long arrays: an array's items are skipped and only
its length is kept (GGUFArray). gguf's own GGUFReader builds every field as numpy arrays, some
tens of MiB that the process then keeps; the few keys the gateway needs cost nothing this way.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Optional

# GGUF value types: fixed sizes in bytes; 8 is a string, 9 an array.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


class GGUFHeaderError(Exception):
    pass


@dataclass
class GGUFArray:
    """An array value, its items skipped."""

    length: int


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize("<" + fmt)
    data = f.read(size)
    if len(data) != size:
        raise GGUFHeaderError("the file ends inside its header")
    return struct.unpack("<" + fmt, data)[0]


def _skip_string(f: BinaryIO) -> None:
    f.seek(_read(f, "Q"), 1)


def _value(f: BinaryIO, kind: int) -> Any:
    if kind in _SCALARS:
        return _read(f, _SCALARS[kind])
    if kind == _STRING:
        return f.read(_read(f, "Q")).decode("utf-8", "replace")
    if kind == _ARRAY:
        item, length = _read(f, "I"), _read(f, "Q")
        if item in _SCALARS:
            f.seek(length * struct.calcsize("<" + _SCALARS[item]), 1)
        elif item == _STRING:
            for _ in range(length):
                _skip_string(f)
        else:
            for _ in range(length):
                _value(f, item)
        return GGUFArray(length)
    raise GGUFHeaderError(f"unknown GGUF value type {kind}")


def read_metadata(path: Path, enough: Optional[Callable[[dict[str, Any]], bool]] = None) -> dict[str, Any]:
    """The header's key/value pairs, in the file's order; stops early once `enough(found)` is
    true. Raises GGUFHeaderError (not a GGUF, cut short) or OSError."""
    found: dict[str, Any] = {}
    with path.open("rb", buffering=1 << 16) as f:
        if f.read(4) != b"GGUF":
            raise GGUFHeaderError(f"{path} is not a GGUF file")
        _read(f, "I")  # version
        _read(f, "Q")  # tensors
        for _ in range(_read(f, "Q")):
            length = _read(f, "Q")
            key = f.read(length).decode("utf-8", "replace")
            found[key] = _value(f, _read(f, "I"))
            if enough is not None and enough(found):
                break
    return found
