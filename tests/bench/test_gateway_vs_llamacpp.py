"""bench/gateway_vs_llamacpp.py: its options and the figures it derives from rounds."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from gateway_vs_llamacpp import parse_conditions, parse_gateway_spec, rotated, spread  # noqa: E402


def test_contention_as_a_list_or_repeated_words():
    assert parse_conditions(["none", "one-core,half-both"]) == ["none", "one-core", "half-both"]
    with pytest.raises(SystemExit, match="all-cores"):
        parse_conditions(["all-cores"])


def test_gateway_spec_environment_and_checkout():
    name, root, env = parse_gateway_spec("t2:OSS_SIDECAR_LLAMACPP__N_THREADS=2,GOMP_SPINCOUNT=1000")
    assert (name, root, env) == ("t2", ROOT, {"OSS_SIDECAR_LLAMACPP__N_THREADS": "2", "GOMP_SPINCOUNT": "1000"})
    assert parse_gateway_spec("old:root=/tmp/wt-old")[1] == Path("/tmp/wt-old").resolve()
    for bad in ("llama.cpp:X=1", ":X=1", "t:X"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_gateway_spec(bad)


def test_rounds_rotate_the_order():
    names = ["gateway", "t2", "llama.cpp"]
    orders = [rotated(names, r) for r in range(3)]
    assert [o[0] for o in orders] == names  # each target goes first once in three rounds


def test_spread_is_median_and_range():
    assert spread([0.010, 0.030, 0.020], 1000) == "20.0 (10.0–30.0)"
