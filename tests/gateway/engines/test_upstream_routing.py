"""Consistent hashing with bounded loads, the affinity key, and the upstream settings."""
from __future__ import annotations

import collections
import math
import random

import pytest

from gateway.engines.base import GenerationRequest, SamplingParams
from gateway.engines.upstream.health import Replica
from gateway.engines.upstream.ring import BoundedLoadRing
from gateway.engines.upstream.routing import Router, affinity_key
from gateway.settings import ConfigError, load_settings

NAMES = ["http://a:8000", "http://b:8000", "http://c:8000"]


def test_a_key_keeps_its_replica_while_under_the_bound():
    ring = BoundedLoadRing(NAMES)
    picks = {ring.pick("same prefix", {}, NAMES) for _ in range(10)}
    assert len(picks) == 1


def test_keys_spread_evenly_without_load():
    ring = BoundedLoadRing(NAMES)
    counts = collections.Counter(ring.pick(f"file {i}", {}, NAMES) for i in range(3000))
    assert set(counts) == set(NAMES)
    assert max(counts.values()) < 1.3 * 1000, counts


def test_no_replica_goes_above_the_bound():
    """Requests arrive and leave at random, all with one hot key and a few cold ones: the
    replica a request is given never holds more than ceil(c * (m + 1) / n) with it."""
    ring = BoundedLoadRing(NAMES, load_factor=1.25)
    rng = random.Random(3)
    loads = {n: 0 for n in NAMES}
    for _ in range(5000):
        if rng.random() < 0.45 and sum(loads.values()):
            busy = [n for n in NAMES if loads[n]]
            loads[rng.choice(busy)] -= 1
            continue
        key = "hot" if rng.random() < 0.8 else f"cold {rng.randrange(50)}"
        bound = math.ceil(1.25 * (sum(loads.values()) + 1) / len(NAMES))
        name = ring.pick(key, loads, NAMES)
        loads[name] += 1
        assert loads[name] <= bound


def test_overflow_of_a_hot_key_goes_to_one_next_replica():
    ring = BoundedLoadRing(NAMES)
    home = ring.pick("hot", {}, NAMES)
    spill = ring.pick("hot", {home: 1}, NAMES)
    assert spill != home
    assert ring.pick("hot", {home: 1, spill: 0}, NAMES) == spill


def test_removing_a_replica_moves_only_its_keys():
    ring = BoundedLoadRing(NAMES)
    keys = [f"k{i}" for i in range(500)]
    before = {k: ring.pick(k, {}, NAMES) for k in keys}
    left = NAMES[1:]
    after = {k: ring.pick(k, {}, left) for k in keys}
    assert all(after[k] == before[k] for k in keys if before[k] != NAMES[0])


def test_hash_is_stable_across_processes():
    import subprocess
    import sys

    code = "from gateway.engines.upstream.ring import stable_hash; print(stable_hash('editor prefix'))"
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout for _ in range(2)}
    assert len(runs) == 1


def _chat(*messages):
    return GenerationRequest("r", SamplingParams(), messages=[{"role": r, "content": c} for r, c in messages])


def test_affinity_key_of_a_conversation_is_its_beginning():
    first = _chat(("system", "Be brief."), ("user", "What is a monad?"))
    later = _chat(("system", "Be brief."), ("user", "What is a monad?"), ("assistant", "A burrito."), ("user", "More?"))
    other = _chat(("system", "Be brief."), ("user", "What is a functor?"))
    assert affinity_key(first, 1024) == affinity_key(later, 1024) != affinity_key(other, 1024)


def test_affinity_key_of_a_prompt_is_its_first_characters():
    a = GenerationRequest("r", SamplingParams(), prompt="x" * 100 + "typed")
    b = GenerationRequest("r", SamplingParams(), prompt="x" * 100 + "typed more")
    assert affinity_key(a, 64) == affinity_key(b, 64)


def test_router_skips_replicas_that_are_down_or_tried():
    replicas = [Replica(n, None, 4) for n in NAMES]
    for r in replicas:
        r.mark_up()
    router = Router(replicas, "affinity", 1.25, 64)
    request = GenerationRequest("r", SamplingParams(), prompt="hello")
    first = router.choose(request)
    first.mark_down("test")
    second = router.choose(request)
    assert second is not None and second is not first
    third = router.choose(request, exclude={second.url})
    assert third not in (first, second)
    assert router.choose(request, exclude={second.url, third.url}) is None


def test_round_robin_takes_turns():
    replicas = [Replica(n, None, 4) for n in NAMES]
    for r in replicas:
        r.mark_up()
    router = Router(replicas, "round_robin", 1.25, 64)
    request = GenerationRequest("r", SamplingParams(), prompt="same")
    assert [router.choose(request).url for _ in range(6)] == NAMES * 2


def test_servers_accept_a_url_or_a_mapping():
    settings = load_settings(cli_overrides={"engine": "upstream", "upstream": {"servers": [
        "http://gpu-1:8000/v1/", {"url": "https://gpu-2", "api_key": "k"}]}}, environ={})
    assert [s.url for s in settings.upstream.servers] == ["http://gpu-1:8000", "https://gpu-2"]
    assert settings.upstream.servers[1].api_key == "k"


def test_a_bad_server_url_names_the_key():
    with pytest.raises(ConfigError, match=r"^upstream\.servers\.0\.url: "):
        load_settings(cli_overrides={"upstream": {"servers": ["gpu-1:8000"]}}, environ={})
