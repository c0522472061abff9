"""Request bodies as JSON, decoded defensively, for every wire format.

- Nesting deeper than `server.max_json_depth` is refused before parsing (Python's parser
  would recurse until RecursionError on a 50,000-deep body). The check is linear: a few
  passes of bytes operations, whatever the body holds (an earlier regex rescanned an
  unterminated string from each of its quotes: 64 KB of `\\"` took 26 s).
- NaN and Infinity, which Python's parser accepts but JSON does not, are refused, and so are
  integers longer than Python converts (4,300 digits) and floats that overflow.
- Lone UTF-16 surrogates ("\\ud800" without its pair — what an editor sends when the buffer
  holds half an emoji) are replaced by U+FFFD, the Unicode replacement character, in every
  string: the request goes through as the user would want, and the engine never sees text
  it cannot encode. Paired surrogates are decoded normally by the parser.
- A large body is decoded (and its request model built) in a worker thread, not on the event
  loop that writes every other client's stream (`off_loop`).

Size is limited before this runs (aiohttp's client_max_size: `server.max_body_bytes`, 413).
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import json
import math
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

T = TypeVar("T")

_NOT_STRUCTURE = bytes(range(256)).translate(None, b'"[]{}')  # every byte but quotes and brackets
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Python refuses to convert longer integer literals (sys.get_int_max_str_digits) with a
# ValueError that is not a JSONDecodeError (a 500 before it was caught by name).
_MAX_INT_DIGITS = sys.get_int_max_str_digits() or 4300
# Bodies from this size on are decoded in a worker thread. Below it, decoding takes less
# than the hop to a thread would.
OFF_LOOP_BYTES = 64 * 1024
_WORKERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="json-body")


class JsonBodyError(ValueError):
    """The body is not acceptable JSON; the message says why."""


def nesting_depth(raw: bytes) -> int:
    """Deepest bracket nesting of a JSON text, strings skipped (no parsing), in linear time.

    Inside a string a backslash escapes the next byte; escaped backslashes pair up from the
    left, so removing them first and escaped quotes next leaves only the quotes that open and
    close strings. Every other segment between them is outside a string."""
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = unescaped.translate(None, _NOT_STRUCTURE)
    brackets = b"".join(structure.split(b'"')[0::2])
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
    except JsonBodyError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JsonBodyError(f"the request body is not valid JSON: {exc}") from None
    except ValueError:  # the only other one: an integer literal past Python's conversion limit
        raise JsonBodyError(f"an integer in the request body has more than {_MAX_INT_DIGITS} digits") from None
    except RecursionError:  # only if the depth check above were bypassed
        raise JsonBodyError("the request body nests too deep") from None
    # A surrogate arrives as a \u escape (or as raw bytes ED A0..BF, which json.loads lets
    # through); most bodies have neither and skip the walk.
    if b"\\u" not in raw and b"\xed" not in raw:
        return value
    return _fix_surrogates(value)


async def off_loop(raw: bytes, work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` — decoding `raw` and building the request from it — right here for a small
    body, in a worker thread for one of OFF_LOOP_BYTES or more, so that the event loop keeps
    writing other clients' streams meanwhile. The request's context goes along (contextvars).
    Python's C parser holds the GIL while it runs, so the loop can still wait for that part of
    a large body: bounded by `server.max_body_bytes` (docs/BENCHMARKS.md)."""
    if len(raw) < OFF_LOOP_BYTES:
        return work(*args)
    context = contextvars.copy_context()
    call = functools.partial(context.run, work, *args)
    return await asyncio.get_running_loop().run_in_executor(_WORKERS, call)
