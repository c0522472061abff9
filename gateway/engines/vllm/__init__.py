"""The `vllm` engine: vLLM's async engine in-process, tensor parallel over the visible GPUs.

One file per concern: settings.py (the `vllm` settings section), preflight.py (start-up checks,
engine arguments, tensor parallel size), stats.py (vLLM's stat loggers, GPU memory through NVML),
tokenizer.py (the model's tokenizer), engine.py (`VllmEngine`). Nothing here imports torch or
vLLM at import time, so the registry lists this engine, and the rest of the product runs, on
machines without either.
"""
from __future__ import annotations

from typing import Any

from gateway.engines.registry import EngineSpec, EngineUnavailable
from gateway.engines.vllm.engine import VllmEngine
from gateway.engines.vllm import preflight
from gateway.engines.vllm.settings import VllmSettings


def _build(settings: Any) -> VllmEngine:
    try:
        preflight.preflight(settings)
    except RuntimeError as exc:
        raise EngineUnavailable(str(exc)) from None
    return VllmEngine(settings)


def _doctor(settings: Any) -> list[tuple[bool, str]]:
    try:
        preflight.preflight(settings)
        return [(True, "vllm engine available")]
    except RuntimeError as exc:
        return [(False, str(exc))]


ENGINE = EngineSpec(
    name="vllm",
    summary="vLLM in-process on NVIDIA GPUs, tensor-parallel over the visible GPUs",
    settings=VllmSettings,
    build=_build,
    doctor=_doctor,
)
