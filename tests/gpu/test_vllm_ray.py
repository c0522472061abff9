"""`vllm.distributed_executor_backend: ray`: the in-process vLLM engine on a Ray cluster — one
that vLLM starts itself, and one started first with `ray start --head` and joined through
RAY_ADDRESS, as the multi-node recipe in docs/GPU.md does (here with one node)."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.gpu.conftest import GPU_SKIP_REASON, GatewayServer, log_dir, write_model

pytestmark = pytest.mark.gpu

openai = pytest.importorskip("openai")

MESSAGES = [{"role": "user", "content": "Name three prime numbers."}]


def _ray_skip() -> None:
    if GPU_SKIP_REASON:
        pytest.skip(GPU_SKIP_REASON)
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'ray[default]')")


def _chat(srv) -> None:
    c = openai.OpenAI(base_url=srv.url + "/v1", api_key="none", max_retries=0, timeout=120)
    r = c.chat.completions.create(model=srv.model, messages=MESSAGES, max_tokens=8, extra_body={"ignore_eos": True})
    assert r.usage.completion_tokens == 8


def _ray_processes(srv) -> list[str]:
    psutil = pytest.importorskip("psutil")
    names = []
    for p in psutil.Process(srv.proc.pid).children(recursive=True):
        try:
            names.append(" ".join([p.name()] + p.cmdline()[:2]))
        except psutil.Error:
            continue
    return [n for n in names if "ray" in n.lower()]


def test_ray_backend_with_a_cluster_vllm_starts(models_root, tmp_path_factory):
    _ray_skip()
    model = write_model("llama1b", models_root / "llama1b-ray")
    srv = GatewayServer(model, tp=1, log_path=log_dir(tmp_path_factory.getbasetemp()) / "gateway-ray.log",
                        env={"OSS_SIDECAR_VLLM__DISTRIBUTED_EXECUTOR_BACKEND": "ray"})
    try:
        srv.wait_ready()
        _chat(srv)
        assert _ray_processes(srv), "no Ray worker under the gateway"
        assert srv.stats()["engine"] == "vllm"
    finally:
        srv.stop()


def test_ray_backend_joins_a_started_head(models_root, tmp_path_factory):
    _ray_skip()
    ray = shutil.which("ray")
    if ray is None:
        pytest.skip("the `ray` command is not on PATH")
    started = subprocess.run([ray, "start", "--head", "--port", "6390", "--num-gpus", "1", "--disable-usage-stats"],
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    model = write_model("llama1b", models_root / "llama1b-ray-head")
    srv = GatewayServer(model, tp=1, log_path=log_dir(tmp_path_factory.getbasetemp()) / "gateway-ray-head.log",
                        env={"OSS_SIDECAR_VLLM__DISTRIBUTED_EXECUTOR_BACKEND": "ray", "RAY_ADDRESS": "127.0.0.1:6390"})
    try:
        srv.wait_ready()
        _chat(srv)
        status = subprocess.run([ray, "status", "--address", "127.0.0.1:6390"], capture_output=True, text=True,
                                timeout=60)
        assert "GPU" in status.stdout, status.stdout
    finally:
        srv.stop()
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120)
