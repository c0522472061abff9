"""The thread count chosen by measurement (llamacpp.thread_tuning), with the real engine and
model: the switch, a request during it, the log line, and the settings that turn it off.
No timing is asserted: which count is faster depends on the machine's load."""
from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest

from gateway.engines.base import GenerationRequest, SamplingParams
from gateway.engines.llamacpp.cpu_contention import CHANGE_CORES, LoadWindow
from gateway.engines.llamacpp.engine import LlamaCppEngine
from gateway.engines.llamacpp.threads import default_threads
from gateway.settings import load_settings

SMALL = {"OSS_SIDECAR_LLAMACPP__N_PARALLEL": "1", "OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT": "512"}


# A prompt long enough that a cache hit is unmistakable (about 200 tokens).
PROMPT = "def add(a, b):\n    return a + b\n\n" * 20


def _request(rid: str) -> GenerationRequest:
    return GenerationRequest(rid, SamplingParams(max_tokens=4, temperature=0), prompt=PROMPT)


async def _answer(engine: LlamaCppEngine, rid: str) -> tuple[str, int]:
    """The text and the prompt tokens llama.cpp found in its cache."""
    deltas = [d async for d in engine.generate(_request(rid))]
    assert deltas[-1].completion_tokens
    return "".join(d.text for d in deltas), deltas[-1].cached_tokens or 0


async def test_n_threads_set_turns_tuning_off_and_a_request_during_a_switch_is_answered():
    settings = load_settings(environ={**SMALL, "OSS_SIDECAR_LLAMACPP__N_THREADS": "1",
                                      "OSS_SIDECAR_LLAMACPP__THREAD_CANDIDATES": "[2]"})
    assert not settings.llamacpp.tunes_threads
    assert not load_settings(environ={"OSS_SIDECAR_LLAMACPP__THREAD_TUNING": "false"}).llamacpp.tunes_threads
    engine = LlamaCppEngine(settings)
    engine.check_model()
    await engine.start()
    try:
        assert "thread_switches_total" not in (await engine.stats()).counters  # no tuner runs
        # The switch the tuner makes, started as it does (while idle); the request arrives
        # once the gate is closed, waits for the new server and is answered by it.
        await _answer(engine, "before-switch")
        decodes = (await engine.stats()).counters["n_decode_total"]
        switching = asyncio.ensure_future(engine.switch_threads(2))
        await asyncio.sleep(0)
        assert not engine.idle
        text, cached = await _answer(engine, "during-switch")
        assert text and switching.done() and switching.result() > 0
        assert cached > 100  # the slot's KV cache was saved and restored into the new server
        # llama.cpp's counters go on across the restart (tests compare them before and after)
        assert (await engine.stats()).counters["n_decode_total"] > decodes
        assert engine.threads == 2 and (await engine.stats()).counters["n_threads"] == 2
        assert await engine.tokenizer.encode("hello")  # the tokenizer reaches the new server's socket
    finally:
        await engine.stop()


def test_the_forced_switch_happens_and_is_logged(start_gateway):
    """The only candidate is a count other than the one the engine starts with: the probe after
    the model loads times it and the engine switches to it, logging the figures."""
    target = default_threads() + 1
    gw = start_gateway(env={"OSS_SIDECAR_LLAMACPP__THREAD_TUNING": "true",
                            "OSS_SIDECAR_LLAMACPP__THREAD_CANDIDATES": f"[{target}]"})
    try:
        deadline = time.monotonic() + 180  # the probe waits for an idle moment on a busy machine
        while "thread count switched" not in gw.log() and time.monotonic() < deadline:
            time.sleep(0.5)
        line = next(x for x in gw.log().splitlines() if "thread count switched" in x)
        assert f"from {default_threads()} to {target}" in line and f"{target} thread(s)" in line and "tok/s" in line
        assert "model loaded" in line  # what caused it
        counters = gw.stats()["engine_counters"]
        assert counters["n_threads"] == target and counters["thread_switches_total"] == 1
        body = json.dumps({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3}).encode()
        req = urllib.request.Request(gw.base_url + "/chat/completions", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            assert json.loads(resp.read())["choices"][0]["message"]["content"]
    finally:
        gw.stop()


@pytest.mark.parametrize("samples, last, changed", [
    ([0.1] * 5, 0.1, False),  # the same level
    ([1.2] * 5, 1.2, True),  # a steady new load
    ([1.2] * 5, 0.1, False),  # the newest sample disagrees: not a steady load
    ([0.1, 2.0] * 3, 0.1, False),  # another program alternating with ours: bursts
])
def test_a_load_change_needs_a_full_steady_window(samples, last, changed):
    window = LoadWindow(6)
    for _ in range(6):
        window.add(0.1)
    assert not window.changed()  # the first full window sets the level
    for cores in [*samples, last]:
        window.add(cores)
    assert window.changed() is changed
    assert CHANGE_CORES == 0.5
