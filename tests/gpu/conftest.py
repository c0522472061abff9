"""GPU tests: the real gateway (`python -m gateway.cli serve --engine vllm`) over vLLM on CUDA GPUs.

Skipped, with the reason printed, where vLLM or a CUDA GPU is missing. Model folders are written
by the tests: config.json of a Llama-like shape (random weights, `load_format: dummy`) plus the
embedded model's tokenizer (SmolLM2, 49,152 tokens) so text round-trips; the gpt-oss-shaped folder
gets a tokenizer converted from the offline o200k vocabulary. The SmolLM2 tokenizer folder is
found through OSS_SIDECAR_TEST_TOKENIZER_DIR, /tmp/vllm-stage/tokenizer-smollm2 (the GPU machine's
stage) or ../shared/device/tokenizer-smollm2.

Server logs go to $OUT (the GPU machine's result folder) when set, else to pytest's tmp dir.
"""
from __future__ import annotations

import http.client
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]

SHAPES: dict[str, dict[str, Any]] = {
    # Llama-3.2-1B-like
    "llama1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                    num_key_value_heads=8, head_dim=64, tie_word_embeddings=True),
    # Llama-3.1-8B-like
    "llama8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                    num_key_value_heads=8, head_dim=128, tie_word_embeddings=False),
    # Qwen2.5-Coder-1.5B-like
    "qwen1.5b": dict(model_type="qwen2", architectures=["Qwen2ForCausalLM"], hidden_size=1536,
                     intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                     tie_word_embeddings=True, rope_theta=1000000.0, rms_norm_eps=1e-6),
}
BASE_CONFIG = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_act": "silu",
               "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": 8192,
               "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2, "vocab_size": 49152}


def _gpu_skip_reason() -> Optional[str]:
    try:
        if importlib.util.find_spec("vllm") is None:
            return "vLLM is not installed (pip install '.[vllm]' in the oss-sidecar source folder)"
    except (ImportError, ValueError):
        return "vLLM is not installed (pip install '.[vllm]' in the oss-sidecar source folder)"
    try:
        import torch

        n = torch.cuda.device_count()
    except Exception as exc:  # pragma: no cover - broken CUDA install
        return f"torch cannot count CUDA GPUs: {exc}"
    if n == 0:
        return "no CUDA GPU is visible"
    return None


GPU_SKIP_REASON = _gpu_skip_reason()


def gpu_count() -> int:
    if GPU_SKIP_REASON:
        return 0
    import torch

    return torch.cuda.device_count()


def pytest_report_header(config: Any) -> str:
    return f"gpu tests: {'skipped: ' + GPU_SKIP_REASON if GPU_SKIP_REASON else f'{gpu_count()} CUDA GPU(s)'}"


def pytest_collection_modifyitems(config: Any, items: list) -> None:
    if not GPU_SKIP_REASON:
        return
    skip = pytest.mark.skip(reason=f"GPU test: {GPU_SKIP_REASON}")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


def tokenizer_dir() -> Optional[Path]:
    cands = [os.environ.get("OSS_SIDECAR_TEST_TOKENIZER_DIR"), "/tmp/vllm-stage/tokenizer-smollm2",
             str(ROOT.parent / "shared" / "device" / "tokenizer-smollm2"),
             str(ROOT / "shared" / "device" / "tokenizer-smollm2")]
    for c in cands:
        if c and (Path(c) / "tokenizer.json").is_file():
            return Path(c)
    return None


def write_model(shape: str, folder: Path) -> Path:
    """A model folder vLLM loads with load_format=dummy and that round-trips text."""
    tok = tokenizer_dir()
    if tok is None:
        pytest.skip("no SmolLM2 tokenizer folder (set OSS_SIDECAR_TEST_TOKENIZER_DIR)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({**BASE_CONFIG, **SHAPES[shape]}, indent=1))
    for f in tok.iterdir():
        if f.is_file():
            shutil.copy(f, folder / f.name)
    return folder


# gpt-oss-20b's published config.json with 4 of its 24 layers: the same attention (sliding and full,
# sinks), router and MXFP4 experts, started in seconds rather than minutes.
GPTOSS_CONFIG = {
    "architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "attention_bias": True,
    "attention_dropout": 0.0, "eos_token_id": 200002, "pad_token_id": 199999, "experts_per_token": 4,
    "num_experts_per_tok": 4, "head_dim": 64, "hidden_act": "silu", "hidden_size": 2880,
    "initial_context_length": 4096, "initializer_range": 0.02, "intermediate_size": 2880,
    "layer_types": ["sliding_attention", "full_attention"] * 2, "max_position_embeddings": 131072,
    "num_attention_heads": 64, "num_hidden_layers": 4, "num_key_value_heads": 8, "num_local_experts": 32,
    "output_router_logits": False, "rms_norm_eps": 1e-5,
    "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0,
                     "original_max_position_embeddings": 4096, "rope_type": "yarn", "truncate": False},
    "rope_theta": 150000, "router_aux_loss_coef": 0.9, "sliding_window": 128, "swiglu_limit": 7.0,
    "tie_word_embeddings": False, "use_cache": True, "vocab_size": 201088, "torch_dtype": "bfloat16",
    "quantization_config": {"quant_method": "mxfp4", "modules_to_not_convert": [
        "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]},
}
# tiktoken's o200k_base split pattern (o200k_harmony uses the same one).
O200K_PATTERN = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""", r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""", r"""\s*[\r\n]+""", r"""\s+(?!\S)""", r"""\s+""",
])


def write_gptoss_model(folder: Path) -> Path:
    """A gpt-oss model folder for dummy weights, with a Hugging Face tokenizer converted from the
    offline o200k vocabulary plus harmony's special tokens (the ids gpt-oss's own tokenizer has)."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("tiktoken")  # the converter reads the .tiktoken file with it
    from transformers.convert_slow_tokenizer import TikTokenConverter

    from gateway.prompts import harmony

    try:
        enc = harmony.get_encoding()
        vocab_file = harmony.ensure_vocab()
    except harmony.HarmonyUnavailable as exc:
        pytest.skip(str(exc))
    by_id = {enc.encode(s, allowed_special="all")[0]: s for s in harmony.special_tokens()}
    vocab = GPTOSS_CONFIG["vocab_size"]
    specials = [by_id[i] for i in range(min(by_id), vocab)]  # contiguous after the 199,998 ranks
    tok = TikTokenConverter(vocab_file=str(vocab_file), pattern=O200K_PATTERN,
                            extra_special_tokens=specials).converted()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|startoftext|>", eos_token="<|return|>", pad_token="<|endoftext|>")
    assert len(fast) == vocab
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(folder))
    (folder / "config.json").write_text(json.dumps(GPTOSS_CONFIG, indent=1))
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_dir(tmp: Path) -> Path:
    out = os.environ.get("OUT")
    return Path(out) if out else tmp


class GatewayServer:
    """`python -m gateway.cli serve --engine vllm` in its own process group."""

    def __init__(self, model_dir: Path, *, tp: int, log_path: Path, env: Optional[dict] = None,
                 args: Optional[list[str]] = None, max_model_len: int = 4096, gpu_util: float = 0.85):
        self.tp = tp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.model_dir = model_dir
        self.model = model_dir.name
        self.log_path = log_path
        e = dict(os.environ)
        e.update({
            "PYTHONPATH": f"{ROOT}{os.pathsep}{e.get('PYTHONPATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "OSS_SIDECAR_VLLM__LOAD_FORMAT": "dummy",
            "OSS_SIDECAR_VLLM__TENSOR_PARALLEL_SIZE": str(tp),
            "OSS_SIDECAR_VLLM__MAX_MODEL_LEN": str(max_model_len),
            "OSS_SIDECAR_VLLM__GPU_MEMORY_UTILIZATION": str(gpu_util),
        })
        e.update(env or {})
        cmd = [sys.executable, "-m", "gateway.cli", "serve", "--engine", "vllm", "--model", str(model_dir),
               "--port", str(self.port)] + (args or [])
        self._log = open(log_path, "w")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=e, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.ready_s: Optional[float] = None

    def get(self, path: str, timeout: float = 10) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                body = r.read()
                return r.status, json.loads(body) if body[:1] in (b"{", b"[") else body.decode()
        except urllib.error.HTTPError as err:
            body = err.read()
            try:
                return err.code, json.loads(body)
            except ValueError:
                return err.code, body.decode(errors="replace")

    def wait_ready(self, timeout: float = 480) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                code, _ = self.get("/health", timeout=2)
                if code == 200:
                    self.ready_s = round(time.monotonic() - self.t0, 1)
                    return
            except (OSError, ValueError):
                pass
            time.sleep(1)
        raise RuntimeError(f"gateway not ready in {timeout} s:\n{self.tail()}")

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def open_chat_stream(self, body: dict, events: int = 1) -> http.client.HTTPConnection:
        """A raw streaming chat request, read until `events` SSE events have arrived; the caller
        ends it with `disconnect` (a client leaving mid-stream)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("POST", "/v1/chat/completions", body=json.dumps({"model": self.model, "stream": True, **body}),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200
        seen = 0
        while seen < events:
            if resp.readline().startswith(b"data: "):
                seen += 1
        return conn

    @staticmethod
    def disconnect(conn: http.client.HTTPConnection) -> None:
        conn.sock.shutdown(2)
        conn.close()

    def stats(self) -> dict:
        code, body = self.get("/v1/stats")
        assert code == 200, body
        return body

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=40)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the engine core and workers, if left
        except ProcessLookupError:
            pass
        self._log.close()
        time.sleep(3)  # the driver hands the GPU memory back before the next server starts


@pytest.fixture(scope="session")
def models_root(tmp_path_factory: Any) -> Path:
    return tmp_path_factory.mktemp("models")


def _server(request: Any, models_root: Path, tmp_path_factory: Any, name: str, shape: str, tp: int,
            **kw: Any) -> Any:
    if GPU_SKIP_REASON:
        pytest.skip(GPU_SKIP_REASON)
    if gpu_count() < tp:
        pytest.skip(f"needs {tp} CUDA GPUs, {gpu_count()} visible")
    if shape == "gptoss":
        model = write_gptoss_model(models_root / "gptoss-dummy")
    else:
        model = write_model(shape, models_root / f"{shape}-dummy")
    srv = GatewayServer(model, tp=tp, log_path=log_dir(tmp_path_factory.getbasetemp()) / f"gateway-{name}.log", **kw)
    try:
        srv.wait_ready()
    except Exception:
        srv.stop()
        raise
    print(f"\n[{name}] gateway ready in {srv.ready_s} s (tensor parallel {tp})")
    return srv


def serving_tp() -> int:
    """Tensor parallel 2 where two GPUs are visible (the product's profile), else 1."""
    return 2 if gpu_count() >= 2 else 1


@pytest.fixture(scope="module")
def serving_server(request: Any, models_root: Path, tmp_path_factory: Any):
    tp = serving_tp()
    srv = _server(request, models_root, tmp_path_factory, f"serving-tp{tp}", "llama1b", tp,
                  env={"OSS_SIDECAR_ADMISSION__MAX_CONCURRENCY": "32"})
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def tp1_server(request: Any, models_root: Path, tmp_path_factory: Any):
    # One request at a time, no queue: the overload answer is immediate.
    srv = _server(request, models_root, tmp_path_factory, "tp1", "llama1b", 1,
                  args=["--max-concurrency", "1", "--max-queue", "0"])
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def gptoss_server(request: Any, models_root: Path, tmp_path_factory: Any):
    # enforce_eager: no CUDA graph capture, which takes minutes for the MoE layers.
    srv = _server(request, models_root, tmp_path_factory, "gptoss", "gptoss", 1,
                  env={"OSS_SIDECAR_VLLM__ENFORCE_EAGER": "true"})
    yield srv
    srv.stop()
