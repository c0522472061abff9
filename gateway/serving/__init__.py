"""The serving core under every wire format (see core.py)."""
from gateway.serving.core import Serving
from gateway.serving.events import ChoiceEvent, ChoiceResult, Usage
from gateway.serving.requests import ChatRequest, Retrieval, TextRequest
from gateway.serving.run import Run, Timing

__all__ = [
    "ChatRequest", "ChoiceEvent", "ChoiceResult", "Retrieval", "Run", "Serving", "TextRequest", "Timing", "Usage",
]
