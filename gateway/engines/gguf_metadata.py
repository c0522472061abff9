"""What a GGUF file says about its model: its key-value metadata, parameter count and
quantization, read with the `gguf` package (a dependency already: the embedding model's
conversion writes GGUF with it). Ollama's /api/show and /api/tags report these."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Optional

from gateway.engines.base import ModelMetadata

# Arrays longer than this (the vocabulary, merges, token types) are left out, as Ollama's show
# leaves them out unless asked for `verbose`.
_MAX_ARRAY = 64


def _value(field: Any) -> Any:
    import gguf

    if field.types and field.types[0] == gguf.GGUFValueType.ARRAY and len(field.data) > _MAX_ARRAY:
        return None
    value = field.contents()
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def read(path: Path) -> ModelMetadata:
    """The file's metadata (seconds for a large vocabulary: call it off the event loop)."""
    import gguf  # with numpy: only when asked

    reader = gguf.GGUFReader(path)
    values = {key: _value(field) for key, field in reader.fields.items() if not key.startswith("GGUF.")}
    count = values.get("general.parameter_count") or sum(int(t.n_elements) for t in reader.tensors)
    file_type = values.get("general.file_type")
    try:
        quantization = gguf.LlamaFileType(file_type).name.removeprefix("MOSTLY_").removeprefix("ALL_")
    except ValueError:
        quantization = "" if file_type is None else str(file_type)
    return ModelMetadata(format="gguf", size_bytes=path.stat().st_size, parameter_count=int(count),
                         quantization=quantization, values=values)


class MetadataOnce:
    """A model file's metadata, read once, in a worker thread, when first asked."""

    def __init__(self) -> None:
        self._read: Optional[asyncio.Future] = None

    async def get(self, path: Optional[Path]) -> Optional[ModelMetadata]:
        if path is None:
            return None
        if self._read is None:
            self._read = asyncio.ensure_future(asyncio.to_thread(read, path))
        return await asyncio.shield(self._read)
