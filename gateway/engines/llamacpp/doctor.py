"""`oss-sidecar doctor` for the llamacpp engine: xllamacpp installed, the default model intact."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gateway.engines.default_model import ModelFileError, check_gguf_file, default_model_path, verify_default_model
from gateway.engines.llamacpp.kv_cache import kv_cache_bytes, mib

if TYPE_CHECKING:
    from gateway.settings import Settings


def doctor(settings: "Settings") -> list[tuple[bool, str]]:
    lines = []
    try:
        import xllamacpp

        lines.append((True, f"xllamacpp {xllamacpp.__version__} (embedded engine)"))
    except ImportError:
        lines.append((False, "xllamacpp is missing: pip install . (in the oss-sidecar source folder)"))
    try:
        path = default_model_path()
        verify_default_model(path)
        lines.append((True, f"default model {path} (sha256 verified)"))
    except ModelFileError as exc:
        lines.append((False, str(exc)))
    lines.append((True, kv_cache_line(settings)))
    return lines


def kv_cache_line(settings: "Settings") -> str:
    """The KV cache's memory, allocated in full when the engine starts."""
    cfg = settings.llamacpp
    size = None
    try:
        path = Path(settings.model.path).expanduser() if settings.model.path else default_model_path()
        check_gguf_file(path)
        size = kv_cache_bytes(path, cfg.kv_pool_tokens, cfg.cache_type)
    except ModelFileError:
        pass
    shown = "size unknown for this model" if size is None else mib(size)
    return (f"KV cache: {shown} ({cfg.kv_pool_tokens} tokens, {cfg.cache_type}, llamacpp.context_total) "
            f"shared by {cfg.n_parallel} slots, each conversation up to {cfg.context_per_slot} tokens")
