"""The `llamacpp` engine (the default): llama.cpp in-process through xllamacpp, for machines
without a GPU. engine.py holds the engine; listener.py keeps llama.cpp's own listener private."""
from gateway.engines.llamacpp.engine import ENGINE, LlamaCppEngine, LlamaCppSettings, _libgomp_loaded

__all__ = ["ENGINE", "LlamaCppEngine", "LlamaCppSettings", "_libgomp_loaded"]
