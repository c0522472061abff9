"""The Ollama wire format: handlers.py (generation and model routes) and embeddings.py (routes)
over protocol.py (request, answer, stream-line and error models); tool_calls.py encodes calls."""
from gateway.api.ollama import embeddings, handlers
from gateway.api.ollama.handlers import error_response

routes = [*handlers.routes, *embeddings.routes]

PATH_PREFIX = "/api/"

__all__ = ["PATH_PREFIX", "error_response", "routes"]
