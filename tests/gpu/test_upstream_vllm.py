"""The upstream engine in front of two `vllm serve` replicas sharing one GPU: vLLM's /tokenize
counts, chat and FIM pass through, a disconnect aborts inside vLLM, a repeated prefix stays on
one replica and hits its prefix cache (vLLM's own counters), and a killed replica is routed
around. Each replica takes a share of the GPU's memory (`--gpu-memory-utilization 0.35`).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.gpu.conftest import GPU_SKIP_REASON, ROOT, free_port, log_dir, write_model

pytestmark = pytest.mark.gpu

openai = pytest.importorskip("openai")


class VllmServe:
    """vLLM's own OpenAI server (`vllm serve`), dummy weights, in its own process group."""

    def __init__(self, model_dir: Path, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(log_path, "w")
        cmd = [sys.executable, "-m", "vllm.entrypoints.cli.main", "serve", str(model_dir), "--host", "127.0.0.1",
               "--port", str(self.port), "--load-format", "dummy", "--max-model-len", "4096",
               "--gpu-memory-utilization", "0.35", "--enable-prefix-caching", "--enable-prompt-tokens-details",
               "--served-model-name", model_dir.name]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 600) -> "VllmServe":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vllm serve exited with {self.proc.returncode}; see {self._log.name}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(2)
        raise RuntimeError(f"vllm serve not ready in {timeout} s; see {self._log.name}")

    def metric(self, pattern: str) -> float:
        """Sum of vLLM's Prometheus samples whose name and labels match `pattern`."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line and not line.startswith("#") and re.search(pattern, line.rsplit(" ", 1)[0]):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class Front:
    """The gateway with `engine: upstream` over the replicas (vLLM's /tokenize counts)."""

    def __init__(self, urls: list[str], log_path: Path, config_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config_path.write_text("engine: upstream\nupstream:\n  health_interval_s: 1\n  servers:\n"
                               + "".join(f"    - url: {u}\n" for u in urls))
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(config_path),
                                      "--port", str(self.port)], cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120) -> "Front":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"front gateway exited with {self.proc.returncode}; see {self._log.name}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError("front gateway not ready")

    def counters(self) -> dict:
        import json

        with urllib.request.urlopen(self.url + "/v1/stats", timeout=10) as resp:
            return json.load(resp)["engine_counters"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)
        self._log.close()


@pytest.fixture(scope="module")
def cluster(models_root, tmp_path_factory):
    if GPU_SKIP_REASON:
        pytest.skip(GPU_SKIP_REASON)
    model = write_model("llama1b", models_root / "llama1b-upstream")
    logs = log_dir(tmp_path_factory.getbasetemp())
    replicas = [VllmServe(model, logs / f"vllm-serve-{i}.log") for i in range(2)]
    try:
        for r in replicas:
            r.wait_ready()
        front = Front([r.url for r in replicas], logs / "front-upstream.log",
                      tmp_path_factory.mktemp("upstream") / "front.yaml").wait_ready()
    except Exception:
        for r in replicas:
            r.stop()
        raise
    yield model.name, replicas, front
    front.stop()
    for r in replicas:
        r.stop()
    time.sleep(3)  # the driver hands the GPU memory back before the next server starts


def client(front):
    return openai.OpenAI(base_url=front.url + "/v1", api_key="none", max_retries=0, timeout=120)


def test_both_replicas_up_and_vllms_context(cluster):
    model, replicas, front = cluster
    counters = front.counters()
    assert all(counters[f'upstream_up{{server="{r.url}"}}'] == 1 for r in replicas)
    models = client(front).models.list()
    assert models.data[0].id == model and models.data[0].model_extra["max_model_len"] == 4096


def test_chat_and_fim_pass_through(cluster):
    model, _, front = cluster
    c = client(front)
    chat = c.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=8,
                                     extra_body={"ignore_eos": True})
    assert chat.usage.completion_tokens == 8
    fim = c.completions.create(model=model, prompt="def add(a, b):\n    return", suffix="\n", max_tokens=8)
    assert fim.usage.prompt_tokens > 0  # vLLM's server rejects `suffix`; the front rendered it


def test_history_window_counts_with_vllms_tokenize(cluster):
    model, _, front = cluster
    c = client(front)
    messages = [{"role": "user", "content": "One?"}, {"role": "assistant", "content": "One."},
                {"role": "user", "content": "Two?"}]
    exact = c.chat.completions.create(model=model, messages=messages, max_tokens=1).usage.prompt_tokens
    kept = c.chat.completions.with_raw_response.create(model=model, messages=messages, max_tokens=1,
                                                        extra_body={"truncate_prompt_tokens": exact})
    assert kept.headers.get("X-History-Trimmed") is None
    cut = c.chat.completions.with_raw_response.create(model=model, messages=messages, max_tokens=1,
                                                       extra_body={"truncate_prompt_tokens": exact - 1})
    assert int(cut.headers["X-History-Trimmed"]) >= 1


def test_disconnect_aborts_inside_vllm(cluster):
    model, replicas, front = cluster
    aborted = r'^vllm:request_success_total\{.*finished_reason="abort"'
    before = sum(r.metric(aborted) for r in replicas)
    stream = client(front).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Count to a thousand."}], max_tokens=3000, stream=True,
        extra_body={"ignore_eos": True})
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sum(r.metric(aborted) for r in replicas) == before + 1 and \
                sum(r.metric(r"^vllm:num_requests_running") for r in replicas) == 0:
            return
        time.sleep(0.5)
    raise AssertionError("vLLM did not count the request as aborted")


def test_a_repeated_prefix_stays_on_one_replica_and_hits_its_cache(cluster):
    model, replicas, front = cluster
    hits_before = [r.metric(r"^vllm:prefix_cache_hits(_total)?(\{|$)") for r in replicas]
    requests_before = front.counters()
    prefix = "".join(f"def helper_{i}(x):\n    return x * {i}\n\n" for i in range(60))
    c = client(front)
    for i in range(6):
        c.completions.create(model=model, prompt=prefix + f"def caller_{i}(", max_tokens=4)
    counters = front.counters()
    moved = sorted(counters[f'upstream_requests_total{{server="{r.url}"}}']
                   - requests_before[f'upstream_requests_total{{server="{r.url}"}}'] for r in replicas)
    assert moved == [0, 6]
    hits = [r.metric(r"^vllm:prefix_cache_hits(_total)?(\{|$)") - b for r, b in zip(replicas, hits_before)]
    assert max(hits) > 0 and min(hits) == 0, hits


def test_a_killed_replica_is_routed_around(cluster):
    model, replicas, front = cluster
    replicas[1].kill()
    c = client(front)
    for i in range(4):
        r = c.completions.create(model=model, prompt=f"# after the kill {i}\n", max_tokens=4)
        assert r.usage.completion_tokens >= 1
    assert front.counters()[f'upstream_up{{server="{replicas[1].url}"}}'] == 0
