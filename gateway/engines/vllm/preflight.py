"""Before vLLM starts: what is missing or wrong, in one line, and the engine arguments.

`preflight(settings)` raises RuntimeError with one line saying what is missing (vLLM, a CUDA GPU)
or which setting is wrong, before anything is started; it also builds vLLM's config once, so
vLLM's own validation (max_model_len, quantization, dtype, ...) fails here with one line, and
keeps that config for the engine's start (`engine_config`). torch and vLLM are imported inside
the functions that need them.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

INSTALL_HINT = "pip install '.[vllm]' in the oss-sidecar source folder"

# The config the last preflight built, by its engine arguments: the start takes it instead of
# building it again (building it inspects the model and can take seconds).
_preflight_cache: dict[str, Any] = {}


def one_line(exc: BaseException) -> str:
    """An exception (vLLM's, pydantic's, anyone's) as one short line for the user."""
    errors = getattr(exc, "errors", None)
    if callable(errors):  # pydantic ValidationError: the first error's message
        try:
            first = errors()[0]
            loc = ".".join(str(p) for p in first.get("loc", ()))
            msg = str(first.get("msg", "")).removeprefix("Value error, ")
            return f"{loc}: {msg}" if loc else msg
        except Exception:
            pass
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text[:400]


def model_display_name(settings: Any) -> str:
    if settings.server.served_model_name:
        return settings.server.served_model_name
    path = settings.model.path or ""
    p = Path(path).expanduser()
    return p.name if p.exists() else path


def resolve_tensor_parallel(tp: Any, visible_gpus: int) -> int:
    return visible_gpus if tp == "auto" else int(tp)


def engine_kwargs(settings: Any, visible_gpus: int) -> dict[str, Any]:
    """AsyncEngineArgs keyword arguments from the settings (engine_args merged last)."""
    vs = settings.vllm
    model = settings.model.path
    if model and Path(model).expanduser().exists():
        model = str(Path(model).expanduser().resolve())
    kw: dict[str, Any] = dict(
        model=model,
        served_model_name=[model_display_name(settings)],
        tensor_parallel_size=resolve_tensor_parallel(vs.tensor_parallel_size, visible_gpus),
        gpu_memory_utilization=vs.gpu_memory_utilization,
        max_num_seqs=vs.max_num_seqs,
        dtype=vs.dtype,
        kv_cache_dtype=vs.kv_cache_dtype,
        enable_prefix_caching=vs.enable_prefix_caching,
        enforce_eager=vs.enforce_eager,
        load_format=vs.load_format,
        structured_outputs_config=vs.structured_outputs.model_dump(),
    )
    if vs.max_model_len is not None:
        kw["max_model_len"] = vs.max_model_len
    if vs.quantization is not None:
        kw["quantization"] = vs.quantization
    if vs.distributed_executor_backend is not None:
        kw["distributed_executor_backend"] = vs.distributed_executor_backend
    kw.update(vs.engine_args or {})
    return kw


def visible_gpu_count() -> int:
    """CUDA GPUs this process may use. torch counts them through NVML without creating a CUDA
    context (a context here would make vLLM fall back to spawning its workers)."""
    import torch

    # device_count() asks NVML; is_available() would initialise the CUDA driver in this process.
    return int(torch.cuda.device_count())


def preflight(settings: Any) -> None:
    """Raise RuntimeError with one line when the vllm engine cannot start with these settings."""
    if not settings.model.path:
        raise RuntimeError(
            "--model: the vllm engine needs a Hugging Face model id or a local model folder "
            "(e.g. --model openai/gpt-oss-20b)"
        )
    for mod in ("vllm", "torch"):
        try:
            found = importlib.util.find_spec(mod) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise RuntimeError(
                f"--engine vllm needs vLLM ({mod} is not installed): {INSTALL_HINT} "
                "(Linux, NVIDIA GPU with CUDA); or use --engine llamacpp"
            )
    try:
        n = visible_gpu_count()
    except Exception as exc:  # broken CUDA/NVML install
        raise RuntimeError(f"--engine vllm: cannot query CUDA GPUs: {one_line(exc)}") from None
    if n == 0:
        cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
        hint = f" (CUDA_VISIBLE_DEVICES={cvd!r})" if cvd is not None else ""
        raise RuntimeError(
            f"--engine vllm needs an NVIDIA GPU with CUDA and none is visible{hint}; "
            "check nvidia-smi, or use --engine llamacpp"
        )
    vs = settings.vllm
    tp = resolve_tensor_parallel(vs.tensor_parallel_size, n)
    if tp > n and vs.distributed_executor_backend != "ray":
        raise RuntimeError(
            f"vllm.tensor_parallel_size={tp} but only {n} CUDA GPU(s) are visible: set it to "
            f"'auto' or at most {n} (more GPUs than one machine has needs "
            "distributed_executor_backend: ray)"
        )
    try:
        from vllm.engine.arg_utils import AsyncEngineArgs
    except Exception as exc:
        raise RuntimeError(f"--engine vllm: vLLM does not import: {one_line(exc)} ({INSTALL_HINT})") from None
    fields = {f.name for f in dataclasses.fields(AsyncEngineArgs)}
    for key in (vs.engine_args or {}):
        if key not in fields:
            raise RuntimeError(f"vllm.engine_args.{key}: not an engine argument of this vLLM")
    kw = engine_kwargs(settings, n)
    try:
        vllm_config = _create_config(kw)
    except Exception as exc:
        raise RuntimeError(f"vllm: {one_line(exc)}") from None
    _preflight_cache.clear()
    _preflight_cache[_key(kw)] = vllm_config


def engine_config(kw: dict[str, Any]) -> Any:
    """vLLM's config for these engine arguments: the one preflight built (taken once), else new."""
    return _preflight_cache.pop(_key(kw), None) or _create_config(kw)


def _key(kw: dict[str, Any]) -> str:
    return json.dumps(kw, sort_keys=True, default=str)


def _create_config(kw: dict[str, Any]) -> Any:
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.usage.usage_lib import UsageContext

    from vllm.config import StructuredOutputsConfig

    kw = dict(kw)
    if isinstance(kw.get("structured_outputs_config"), dict):
        # AsyncEngineArgs converts some config dicts itself, not this one.
        kw["structured_outputs_config"] = StructuredOutputsConfig(**kw["structured_outputs_config"])
    args = AsyncEngineArgs(**kw)
    # The serving defaults (batched-token budget, ...) of vLLM's own OpenAI server.
    return args.create_engine_config(usage_context=UsageContext.OPENAI_API_SERVER)
