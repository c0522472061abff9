"""The request-body decoder shared by the wire formats: the nesting pre-check skips strings
exactly as a parser would, on valid and broken input alike, and refuses what Python's parser
would turn into a ValueError or a RecursionError."""
import json
import random

import pytest

from gateway.api.json_body import JsonBodyError, decode, nesting_depth


def _depth(value) -> int:
    if isinstance(value, (list, dict)):
        children = value.values() if isinstance(value, dict) else value
        return 1 + max((_depth(v) for v in children), default=0)
    return 0


def _random_value(rng: random.Random, level: int = 0):
    kind = rng.random()
    if level > 7 or kind < 0.3:
        return rng.choice(['a"]\\', "x[{\\\\", "}\\\"]", 1, None, "\\u00e9"])
    if kind < 0.65:
        return [_random_value(rng, level + 1) for _ in range(rng.randint(0, 3))]
    return {f'k{i}\\"[': _random_value(rng, level + 1) for i in range(rng.randint(0, 3))}


def test_the_depth_of_any_valid_document_is_its_nesting():
    rng = random.Random(7)
    for _ in range(3000):
        value = _random_value(rng)
        assert nesting_depth(json.dumps(value).encode()) == _depth(value)


@pytest.mark.parametrize("text, depth", [
    (b'"abc\\', 0), (b'["a\\\\"]', 1), (b'["\\\\\\"[["]', 1), (b'{"a": "', 1), (b'[[', 2),
])
def test_broken_strings_never_hide_brackets_outside_them(text, depth):
    assert nesting_depth(text) == depth


def test_an_unterminated_string_of_escapes_is_scanned_once():
    # Quadratic before: each quote restarted a scan to the end (64 KB took 26 s). At 8 MiB a
    # rescan would take days; this finishes (pytest's timeout is the only clock here).
    body = b'{"prompt": "' + b'\\"' * (4 * 1024 * 1024)
    assert nesting_depth(body) == 1
    with pytest.raises(JsonBodyError, match="not valid JSON"):
        decode(body, 64)


def test_integers_past_pythons_conversion_limit_are_a_json_body_error():
    with pytest.raises(JsonBodyError, match="more than 4300 digits"):
        decode(b'{"n": -' + b"9" * 5000 + b"}", 64)
    assert decode(b'{"n": ' + b"9" * 4300 + b"}", 64)["n"] == int("9" * 4300)
