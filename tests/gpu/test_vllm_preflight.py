"""The vllm engine's start-up checks and settings mapping; these run on any machine."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.engines.vllm import preflight
from gateway.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
HAS_VLLM = importlib.util.find_spec("vllm") is not None


def settings(**vllm):
    return load_settings(None, {"engine": "vllm", "model": {"path": "/models/demo-8b"}, "vllm": vllm}, environ={})


def test_module_imports_without_torch_or_vllm():
    code = ("import sys, gateway.engines.vllm, gateway.prompts.harmony; "
            "print('torch' in sys.modules, 'vllm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_engine_kwargs_pass_settings_through_and_engine_args_last():
    s = settings(tensor_parallel_size="auto", gpu_memory_utilization=0.8, max_num_seqs=64, max_model_len=4096,
                 quantization="fp8", kv_cache_dtype="fp8", enable_prefix_caching=False, enforce_eager=True,
                 load_format="dummy", distributed_executor_backend="mp",
                 engine_args={"max_num_batched_tokens": 8192, "max_num_seqs": 32})
    kw = preflight.engine_kwargs(s, visible_gpus=2)
    assert kw["model"] == "/models/demo-8b"
    assert kw["served_model_name"] == ["/models/demo-8b"]
    assert kw["tensor_parallel_size"] == 2  # auto = all visible GPUs
    assert kw["gpu_memory_utilization"] == 0.8 and kw["max_model_len"] == 4096
    assert kw["quantization"] == "fp8" and kw["kv_cache_dtype"] == "fp8"
    assert kw["enable_prefix_caching"] is False and kw["enforce_eager"] is True
    assert kw["load_format"] == "dummy" and kw["distributed_executor_backend"] == "mp"
    assert kw["max_num_batched_tokens"] == 8192 and kw["max_num_seqs"] == 32  # engine_args win


def test_engine_kwargs_defaults_leave_optional_ones_to_vllm():
    kw = preflight.engine_kwargs(settings(tensor_parallel_size=1), visible_gpus=4)
    assert kw["tensor_parallel_size"] == 1
    assert kw["enable_prefix_caching"] is True and kw["gpu_memory_utilization"] == 0.92
    for key in ("max_model_len", "quantization", "distributed_executor_backend"):
        assert key not in kw
    assert kw["structured_outputs_config"] == {"backend": "xgrammar", "disable_any_whitespace": True}


def test_preflight_needs_a_model():
    s = load_settings(None, {"engine": "vllm"}, environ={})
    with pytest.raises(RuntimeError, match="--model"):
        preflight.preflight(s)


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed here")
def test_preflight_without_vllm_says_how_to_install():
    with pytest.raises(RuntimeError) as err:
        preflight.preflight(settings())
    msg = str(err.value)
    assert "\n" not in msg and preflight.INSTALL_HINT in msg


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed here")
def test_cli_serve_engine_vllm_exits_2_with_one_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--engine", "vllm", "--model", str(tmp_path), "--port", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)})
    assert out.returncode == 2, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and preflight.INSTALL_HINT in lines[0], out.stderr


def test_one_line_error_from_multiline_exception():
    assert preflight.one_line(ValueError("first line\nsecond")) == "first line"
