"""The Ollama wire format: handlers.py (routes) over protocol.py (request, answer, stream-line
and error models)."""
from gateway.api.ollama.handlers import error_response, routes

PATH_PREFIX = "/api/"

__all__ = ["PATH_PREFIX", "error_response", "routes"]
