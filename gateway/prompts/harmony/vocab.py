"""The o200k_base vocabulary for openai-harmony, offline, and the gpt-oss encoding built on it.

`openai-harmony` builds its tokenizer from o200k_base, which it would normally download. Here the
vocabulary comes from a package already on disk (`quicktok-v1` bundles it in its own binary form,
`bpe-openai` as `.tiktoken.gz`, or an existing tiktoken cache); it is written once, in tiktoken's
text format, into the cache directory openai-harmony reads (`TIKTOKEN_RS_CACHE_DIR`, file named by
the sha1 of the encoding's usual URL) and checked against the sha256 that tiktoken expects.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import os
import struct
import tempfile
import threading
from pathlib import Path
from typing import Any, Optional

O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
O200K_CACHE_NAME = hashlib.sha1(O200K_URL.encode()).hexdigest()  # fb374d41...

_lock = threading.Lock()
_encoding: Any = None


class HarmonyUnavailable(RuntimeError):
    """openai-harmony or its vocabulary is missing: the message says what to install."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cache_dirs() -> list[Path]:
    dirs = []
    for var in ("TIKTOKEN_RS_CACHE_DIR", "TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if os.environ.get(var):
            dirs.append(Path(os.environ[var]))
    dirs.append(_default_cache_dir())
    tmp = Path(tempfile.gettempdir())
    dirs += [tmp / "tiktoken-rs-cache", tmp / "data-gym-cache"]
    return dirs


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "oss-sidecar" / "tiktoken"


def _package_dir(name: str) -> Optional[Path]:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def quicktok_to_tiktoken(raw: bytes) -> bytes:
    """quicktok's vocabulary file (u32 count, then per token: u16 length, bytes, u32 rank) in
    tiktoken's text format (`base64(token) rank` per line)."""
    (count,) = struct.unpack_from("<I", raw, 0)
    off, lines = 4, []
    for _ in range(count):
        (length,) = struct.unpack_from("<H", raw, off)
        off += 2
        token = raw[off:off + length]
        off += length
        (rank,) = struct.unpack_from("<I", raw, off)
        off += 4
        lines.append(base64.b64encode(token) + b" " + str(rank).encode() + b"\n")
    if off != len(raw):
        raise ValueError("unexpected quicktok vocabulary layout")
    return b"".join(lines)


def _vocab_from_packages() -> Optional[tuple[bytes, str]]:
    """o200k_base in tiktoken format from a locally installed package, if any."""
    qt = _package_dir("quicktok")
    if qt is not None and (qt / "data" / "o200k.vocab").is_file():
        try:
            data = quicktok_to_tiktoken((qt / "data" / "o200k.vocab").read_bytes())
            if _sha256(data) == O200K_SHA256:
                return data, "quicktok-v1"
        except (ValueError, struct.error, OSError):
            pass
    bo = _package_dir("bpe_openai")
    if bo is not None and (bo / "data" / "o200k_base.tiktoken.gz").is_file():
        try:
            data = gzip.decompress((bo / "data" / "o200k_base.tiktoken.gz").read_bytes())
            if _sha256(data) == O200K_SHA256:
                return data, "bpe-openai"
        except (OSError, EOFError):
            pass
    return None


def ensure_vocab() -> Path:
    """Make o200k_base available to openai-harmony without network; returns the file.

    Looks for a verified copy in TIKTOKEN_ENCODINGS_BASE or the tiktoken caches; otherwise builds
    one from a bundled package into TIKTOKEN_RS_CACHE_DIR (default ~/.cache/oss-sidecar/tiktoken).
    Sets TIKTOKEN_RS_CACHE_DIR for this process. Raises HarmonyUnavailable when nothing is found.
    """
    base = os.environ.get("TIKTOKEN_ENCODINGS_BASE")
    if base and (Path(base) / "o200k_base.tiktoken").is_file():
        return Path(base) / "o200k_base.tiktoken"
    for d in _cache_dirs():
        f = d / O200K_CACHE_NAME
        try:
            if f.is_file() and f.stat().st_size > 1_000_000 and _sha256(f.read_bytes()) == O200K_SHA256:
                os.environ["TIKTOKEN_RS_CACHE_DIR"] = str(d)
                return f
        except OSError:
            continue
    found = _vocab_from_packages()
    if found is None:
        raise HarmonyUnavailable(
            "gpt-oss needs the o200k_base vocabulary offline: pip install quicktok-v1 "
            "(or bpe-openai), or put o200k_base.tiktoken in TIKTOKEN_ENCODINGS_BASE"
        )
    data, _source = found
    target = Path(os.environ.get("TIKTOKEN_RS_CACHE_DIR") or _default_cache_dir())
    target.mkdir(parents=True, exist_ok=True)
    f = target / O200K_CACHE_NAME
    tmp = target / f".{O200K_CACHE_NAME}.{os.getpid()}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, f)
    os.environ["TIKTOKEN_RS_CACHE_DIR"] = str(target)
    return f


def get_encoding() -> Any:
    """The harmony gpt-oss encoding (loaded once; raises HarmonyUnavailable with the fix)."""
    global _encoding
    if _encoding is not None:
        return _encoding
    with _lock:
        if _encoding is None:
            try:
                import openai_harmony as oh
            except ImportError:
                raise HarmonyUnavailable(
                    "gpt-oss models need openai-harmony: pip install '.[vllm]' in the oss-sidecar source folder "
                    "(or pip install openai-harmony)"
                ) from None
            ensure_vocab()
            try:
                _encoding = oh.load_harmony_encoding(oh.HarmonyEncodingName.HARMONY_GPT_OSS)
            except Exception as exc:  # HarmonyError: vocabulary missing or corrupt
                raise HarmonyUnavailable(f"openai-harmony could not load its vocabulary: {exc}") from None
    return _encoding


def stop_token_ids() -> list[int]:
    """Tokens that end an assistant turn (`<|return|>`, `<|call|>`)."""
    return list(get_encoding().stop_tokens_for_assistant_actions())


def special_tokens() -> set[str]:
    sts = get_encoding().special_tokens_set
    return set(sts() if callable(sts) else sts)
