"""`oss-sidecar doctor`: what `serve` and `index` need, checked before they are run.

Each check is a line: `ok` (present), `!!` (missing: `serve` would refuse to start) or `--`
(an optional part that is missing: what it is for, and how to add it)."""
from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.settings import Settings

OK, MISSING, OPTIONAL = "ok", "!!", "--"
# The [rag] extra (pyproject.toml): import name -> distribution name.
RAG_PACKAGES = {"chromadb": "chromadb", "langchain_text_splitters": "langchain-text-splitters", "pypdf": "pypdf"}
RAG_INSTALL = "pip install '.[rag]' in the oss-sidecar source folder"


def checks(settings: "Settings") -> list[tuple[str, str]]:
    from gateway.engines.registry import engine_specs

    lines = [(OK if good else MISSING, text) for good, text in engine_specs()[settings.engine].doctor(settings)]
    lines.append(embedding_model(settings))
    lines.append(rag_extra())
    return lines


def embedding_model(settings: "Settings") -> tuple[str, str]:
    """The embedding model `serve` loads beside the chat model (embeddings.enabled)."""
    from gateway.embeddings import create_embedding_model
    from gateway.embeddings import default_model
    from gateway.engines.default_model import ModelFileError

    cfg = settings.embeddings
    if not cfg.enabled:
        return OK, "embedding model: off (embeddings.enabled: false)"
    try:
        create_embedding_model(cfg).check_model()
        if cfg.model:
            return OK, f"embedding model {cfg.model}"
        archive = default_model.archive_path()
        default_model.read_archive(archive, verify=cfg.verify_model)
    except ModelFileError as exc:
        return MISSING, f"{exc} (or set embeddings.enabled: false to serve without /v1/embeddings)"
    verified = ", sha256 verified" if cfg.verify_model else ""
    return OK, f"embedding model {default_model.NAME} ({archive}{verified})"


def rag_extra() -> tuple[str, str]:
    """The optional knowledge base: `oss-sidecar index` and retrieval in chat."""
    missing = [dist for name, dist in RAG_PACKAGES.items() if not _imports(name)]
    if missing:
        return OPTIONAL, (f"knowledge base (optional: oss-sidecar index, retrieval in chat): "
                          f"{', '.join(missing)} not installed; {RAG_INSTALL}")
    versions = ", ".join(f"{dist} {importlib.metadata.version(dist)}" for dist in RAG_PACKAGES.values())
    return OK, f"knowledge base: {versions}"


def _imports(module: str) -> bool:
    """Imported, not only found: a package whose own dependencies are missing counts as missing."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
