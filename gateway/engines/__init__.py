"""Engine construction. vLLM is imported only when asked for: nothing else needs torch."""
from __future__ import annotations

from gateway.engines.base import Engine
from gateway.settings import Settings


class EngineUnavailable(Exception):
    """The configured engine cannot run here; the message is one line saying what to install."""


def create_engine(settings: Settings) -> Engine:
    if settings.engine == "vllm":
        try:
            from gateway.engines.vllm import VllmEngine, preflight
        except ImportError as exc:  # our module itself must import without vLLM; this is a bug guard
            raise EngineUnavailable(f"engine vllm: {exc}") from None
        try:
            preflight(settings)
        except RuntimeError as exc:
            raise EngineUnavailable(str(exc)) from None
        return VllmEngine(settings)
    from gateway.engines.llamacpp import LlamaCppEngine

    return LlamaCppEngine(settings)
