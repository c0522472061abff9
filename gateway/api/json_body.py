"""Request bodies as JSON, decoded defensively, for every wire format.

- Nesting deeper than `server.max_json_depth` is refused before parsing (Python's parser
  would recurse until RecursionError on a 50,000-deep body).
- NaN and Infinity, which Python's parser accepts but JSON does not, are refused.
- Lone UTF-16 surrogates ("\\ud800" without its pair — what an editor sends when the buffer
  holds half an emoji) are replaced by U+FFFD, the Unicode replacement character, in every
  string: the request goes through as the user would want, and the engine never sees text
  it cannot encode. Paired surrogates are decoded normally by the parser.

Size is limited before this runs (aiohttp's client_max_size: `server.max_body_bytes`, 413).
"""
from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # every byte but the brackets
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonBodyError(ValueError):
    """The body is not acceptable JSON; the message says why."""


def nesting_depth(raw: bytes) -> int:
    """Deepest bracket nesting of a JSON text, strings skipped (no parsing)."""
    brackets = _STRING.sub(b"", raw).translate(None, _BRACKETS)
    opening = brackets.count(b"[") + brackets.count(b"{")
    if opening <= 1:
        return opening
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)))


def _reject_constant(name: str) -> Any:
    raise JsonBodyError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JsonBodyError(f"the number {text[:40]} is too large")
    return value


def _fix_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_fix_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_fix_surrogates(k): _fix_surrogates(v) for k, v in value.items()}
    return value


def decode(raw: bytes, max_depth: int) -> Any:
    """The JSON value of `raw`; JsonBodyError when it is not valid or too deep."""
    depth = nesting_depth(raw)
    if depth > max_depth:
        raise JsonBodyError(
            f"the request body nests {depth} levels deep; this server accepts at most {max_depth} "
            "(setting server.max_json_depth)"
        )
    try:
        value = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JsonBodyError(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:  # only if the depth check above were bypassed
        raise JsonBodyError("the request body nests too deep") from None
    # A surrogate arrives as a \u escape (or as raw bytes ED A0..BF, which json.loads lets
    # through); most bodies have neither and skip the walk.
    if b"\\u" not in raw and b"\xed" not in raw:
        return value
    return _fix_surrogates(value)
