"""gpt-oss "harmony" chat format through the `openai-harmony` package, fully offline.

`openai-harmony` builds its tokenizer from o200k_base, which it would normally download. Here the
vocabulary comes from a package already on disk (`quicktok-v1` bundles it in its own binary form,
`bpe-openai` as `.tiktoken.gz`, or an existing tiktoken cache); it is written once, in tiktoken's
text format, into the cache directory openai-harmony reads (`TIKTOKEN_RS_CACHE_DIR`, file named by
the sha1 of the encoding's usual URL) and checked against the sha256 that tiktoken expects.

What the engine uses:
- `render_chat(messages, reasoning_effort=...)` -> prompt token ids (system + developer + turns,
  ending with `<|start|>assistant`), `stop_token_ids()` (`<|return|>`, `<|call|>`);
- `HarmonyStreamParser.feed(token_ids)` -> `(text, reasoning)`: the `final` channel (and
  `commentary` without a recipient) is content, the `analysis` channel is reasoning.
Nothing here imports torch or vLLM.
"""
from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import importlib.util
import os
import struct
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable, Optional

O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
O200K_CACHE_NAME = hashlib.sha1(O200K_URL.encode()).hexdigest()  # fb374d41...

REASONING_EFFORTS = ("low", "medium", "high")
# Tokens the model may spend on a message header before we decide it is not speaking harmony
# (a random-weight test model, a wrong checkpoint) and show its raw output instead.
_MAX_HEADER_TOKENS = 48

_lock = threading.Lock()
_encoding: Any = None


class HarmonyUnavailable(RuntimeError):
    """openai-harmony or its vocabulary is missing: the message says what to install."""


def is_harmony_model(hf_config: Any = None, model_type: Optional[str] = None) -> bool:
    """gpt-oss checkpoints (model_type gpt_oss) speak harmony."""
    mt = model_type or getattr(hf_config, "model_type", None)
    if mt is None and isinstance(hf_config, dict):
        mt = hf_config.get("model_type")
    return mt == "gpt_oss"


# ---------------------------------------------------------------- vocabulary (offline)

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
                    "gpt-oss models need openai-harmony: pip install 'oss-sidecar[vllm]' "
                    "(or pip install openai-harmony)"
                ) from None
            ensure_vocab()
            try:
                _encoding = oh.load_harmony_encoding(oh.HarmonyEncodingName.HARMONY_GPT_OSS)
            except Exception as exc:  # HarmonyError: vocabulary missing or corrupt
                raise HarmonyUnavailable(f"openai-harmony could not load its vocabulary: {exc}") from None
    return _encoding


# ---------------------------------------------------------------- prompts

def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        out = []
        for part in content:
            if isinstance(part, dict):
                if part.get("type", "text") == "text":
                    out.append(str(part.get("text", "")))
            else:
                out.append(str(part))
        return "".join(out)
    return str(content)


def normalize_effort(value: Any) -> Optional[str]:
    if value is None:
        return None
    v = str(value).strip().lower()
    if v not in REASONING_EFFORTS:
        raise ValueError(f"reasoning_effort must be one of low, medium, high (got {value!r})")
    return v


def build_messages(
    messages: list[dict[str, Any]],
    *,
    reasoning_effort: Optional[str] = None,
    start_date: Optional[str] = None,
    model_identity: Optional[str] = None,
) -> list[Any]:
    """OpenAI chat messages -> harmony Messages (system, developer, then the turns).

    OpenAI `system`/`developer` messages become the developer message's instructions (as vLLM does
    for gpt-oss); assistant turns go to the `final` channel; tool results are tool messages.
    """
    import openai_harmony as oh

    effort = normalize_effort(reasoning_effort)
    sys_content = oh.SystemContent.new()
    if model_identity:
        sys_content = sys_content.with_model_identity(model_identity)
    if effort:
        sys_content = sys_content.with_reasoning_effort(oh.ReasoningEffort(effort.capitalize()))
    date = start_date or os.environ.get("VLLM_SYSTEM_START_DATE") or datetime.date.today().isoformat()
    sys_content = sys_content.with_conversation_start_date(date)
    out = [oh.Message.from_role_and_content(oh.Role.SYSTEM, sys_content)]

    instructions = [
        _text_of(m.get("content")) for m in messages if m.get("role") in ("system", "developer")
    ]
    instructions = [i for i in instructions if i]
    if instructions:
        dev = oh.DeveloperContent.new().with_instructions("\n\n".join(instructions))
        out.append(oh.Message.from_role_and_content(oh.Role.DEVELOPER, dev))

    for m in messages:
        role = m.get("role")
        text = _text_of(m.get("content"))
        if role in ("system", "developer"):
            continue
        if role == "user":
            out.append(oh.Message.from_role_and_content(oh.Role.USER, text))
        elif role == "assistant":
            if text:
                out.append(oh.Message.from_role_and_content(oh.Role.ASSISTANT, text).with_channel("final"))
        elif role == "tool":
            name = m.get("name") or "functions.tool"
            msg = oh.Message.from_author_and_content(oh.Author.new(oh.Role.TOOL, name), text)
            out.append(msg.with_channel("commentary").with_recipient("assistant"))
        else:
            raise ValueError(f"messages: unsupported role {role!r}")
    return out


def render_chat(messages: list[dict[str, Any]], **kwargs: Any) -> list[int]:
    """Prompt token ids for `messages`, ending where the assistant's answer starts."""
    import openai_harmony as oh

    enc = get_encoding()
    conv = oh.Conversation.from_messages(build_messages(messages, **kwargs))
    return list(enc.render_conversation_for_completion(conv, oh.Role.ASSISTANT))


def render_chat_text(messages: list[dict[str, Any]], **kwargs: Any) -> str:
    return get_encoding().decode(render_chat(messages, **kwargs))


def stop_token_ids() -> list[int]:
    """Tokens that end an assistant turn (`<|return|>`, `<|call|>`)."""
    return list(get_encoding().stop_tokens_for_assistant_actions())


def special_tokens() -> set[str]:
    sts = get_encoding().special_tokens_set
    return set(sts() if callable(sts) else sts)


# ---------------------------------------------------------------- output

class HarmonyStreamParser:
    """Incremental parse of an assistant completion's token ids into (content, reasoning).

    A model that does not produce a harmony header within a few dozen tokens (random weights, a
    wrong checkpoint) is shown raw: its tokens decoded as plain content, so nothing is lost.
    """

    def __init__(self, encoding: Any = None):
        import openai_harmony as oh

        self._oh = oh
        self._enc = encoding or get_encoding()
        self._parser = oh.StreamableParser(self._enc, role=oh.Role.ASSISTANT, strict=False)
        self._raw = False
        self._header_tokens = 0
        self._pending: list[int] = []  # tokens not yet shown, raw mode / fallback
        self._emitted_any = False
        self._stops = set(self._enc.stop_tokens())
        self._raw_tokens: list[int] = []
        self._raw_shown = 0

    def _decode_raw(self, tokens: Iterable[int], final: bool = False) -> str:
        """Raw-mode text: all raw tokens decoded so far, minus what was already shown; a trailing
        replacement character (a split UTF-8 sequence) waits for the next token."""
        self._raw_tokens.extend(t for t in tokens if t not in self._stops)
        try:
            full = self._enc.decode(self._raw_tokens)
        except Exception:
            return ""
        if not final:
            while full.endswith("\ufffd"):
                full = full[:-1]
        if len(full) < self._raw_shown:
            return ""
        out = full[self._raw_shown:]
        self._raw_shown = len(full)
        return out

    def feed(self, token_ids: Iterable[int]) -> tuple[str, str]:
        text, reasoning = [], []
        for t in token_ids:
            if self._raw:
                self._pending.append(t)
                continue
            try:
                self._parser.process(t)
            except Exception:
                self._switch_raw(t)
                continue
            self._pending.append(t)
            state = self._parser.state
            if state == self._oh.StreamState.CONTENT:
                self._header_tokens = 0
                self._pending.clear()
                delta = self._parser.last_content_delta
                if delta:
                    self._emitted_any = True
                    channel = self._parser.current_channel
                    if channel == "analysis":
                        reasoning.append(delta)
                    elif channel == "final" or (channel in (None, "commentary") and not self._parser.current_recipient):
                        text.append(delta)
            elif state == self._oh.StreamState.HEADER:
                self._header_tokens += 1
                if self._header_tokens > _MAX_HEADER_TOKENS and not self._emitted_any:
                    self._switch_raw(None)
            else:
                self._header_tokens = 0
                self._pending.clear()
        if self._raw and self._pending:
            text.append(self._decode_raw(self._pending))
            self._pending.clear()
        return "".join(text), "".join(reasoning)

    def _switch_raw(self, token: Optional[int]) -> None:
        self._raw = True
        if token is not None:
            self._pending.append(token)

    def finish(self) -> tuple[str, str]:
        """At the end of generation: whatever is still held back (an unfinished header)."""
        text = ""
        if self._raw or (self._pending and not self._emitted_any):
            text = self._decode_raw(self._pending, final=True)
        self._pending.clear()
        return text, ""
