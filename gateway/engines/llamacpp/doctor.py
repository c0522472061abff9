"""`oss-sidecar doctor` for the llamacpp engine: xllamacpp installed, the default model intact."""
from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.engines.default_model import ModelFileError, default_model_path, verify_default_model

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
    return lines
