"""The embedded engine in-process, with the real default model: the engine protocol itself."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.engines.base import GenerationRequest, SamplingParams
from gateway.engines.default_model import ModelFileError, default_model_path
from gateway.engines.llamacpp.engine import LlamaCppEngine
from gateway.settings import load_settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
async def engine():
    settings = load_settings(environ={"OSS_SIDECAR_LLAMACPP__N_PARALLEL": "2",
                                      "OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT": "1024"})
    eng = LlamaCppEngine(settings)
    eng.check_model()
    await eng.start()
    yield eng
    await eng.stop()


def test_missing_model_file_fails_the_quick_check(tmp_path):
    settings = load_settings(environ={"OSS_SIDECAR_MODEL__PATH": str(tmp_path / "none.gguf")})
    with pytest.raises(ModelFileError, match="model.path"):
        LlamaCppEngine(settings).check_model()


async def test_protocol_facts(engine):
    assert engine.capacity == 2 and engine.device_kind == "cpu"
    assert engine.model_name == "SmolLM2-135M-Instruct.Q4_1"
    assert engine.tokenizer.context_length == 1024
    assert {"<|im_start|>", "<|im_end|>"} <= await engine.tokenizer.special_tokens()


async def test_generate_streams_text_then_counts(engine):
    request = GenerationRequest("t-1", SamplingParams(max_tokens=6, temperature=0),
                                messages=[{"role": "user", "content": "Say hi."}])
    deltas = [d async for d in engine.generate(request)]
    assert all(d.finish_reason is None for d in deltas[:-1]) and "".join(d.text for d in deltas).strip()
    final = deltas[-1]
    assert final.finish_reason == "length" and final.completion_tokens == 6 and final.prompt_tokens > 5


async def test_closing_the_stream_aborts_in_the_engine(engine):
    before = (await engine.stats()).counters["requests_aborted_total"]
    request = GenerationRequest("t-2", SamplingParams(max_tokens=200, temperature=0), prompt="Once upon a time")
    stream = engine.generate(request)
    await stream.__anext__()
    await stream.aclose()
    # llama.cpp sees the stop flag at its next token callback (a minute's bound: a busy machine)
    for _ in range(1200):
        stats = await engine.stats()
        if stats.counters["requests_aborted_total"] > before:
            break
        await asyncio.sleep(0.05)
    assert stats.counters["requests_aborted_total"] == before + 1


async def test_threads_reach_llamacpps_params():
    """llamacpp.n_threads (0: half the CPUs, at least one) and n_threads_batch (0: every CPU)
    are what llama.cpp gets for one token and for a batch (a prompt, a step of several streams)."""
    cpus = len(os.sched_getaffinity(0))
    cases = (({}, max(1, cpus // 2), cpus),
             ({"OSS_SIDECAR_LLAMACPP__N_THREADS": "3", "OSS_SIDECAR_LLAMACPP__N_THREADS_BATCH": "5"}, 3, 5))
    for environ, threads, batch in cases:
        eng = LlamaCppEngine(load_settings(environ=environ))
        params = eng.params(default_model_path())
        assert (params.cpuparams.n_threads, params.cpuparams_batch.n_threads) == (threads, batch)
        await eng.stop()  # removes the private listener's directory params() made


def test_spin_count_is_in_the_environment_before_openmp_loads():
    """libgomp reads GOMP_SPINCOUNT once, when xllamacpp loads it: the engine sets it first."""
    code = (
        "import os\n"
        "from gateway.settings import load_settings\n"
        "from gateway.engines.llamacpp.engine import LlamaCppEngine\n"
        "from gateway.engines.llamacpp.threads import libgomp_loaded\n"
        "assert not libgomp_loaded()\n"
        "LlamaCppEngine(load_settings(environ={'OSS_SIDECAR_LLAMACPP__SPIN_COUNT': '1234'}))\n"
        "import xllamacpp\n"
        "print(os.environ['GOMP_SPINCOUNT'], libgomp_loaded())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1234", "True"]


async def test_spin_count_too_late_is_said(engine, caplog):
    """Once OpenMP is loaded (here: by the module's engine) a different spin count cannot apply."""
    with caplog.at_level("WARNING", logger="gateway.engines.llamacpp"):
        LlamaCppEngine(load_settings(environ={"OSS_SIDECAR_LLAMACPP__SPIN_COUNT": "7"}))
    assert "llamacpp.spin_count" in caplog.text and "GOMP_SPINCOUNT=7" in caplog.text
