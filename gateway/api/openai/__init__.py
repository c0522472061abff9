"""The OpenAI wire format: handlers.py (chat, completions, models) and embeddings.py (routes)
over protocol.py (request, response, chunk and error models)."""
from gateway.api.openai import embeddings, handlers
from gateway.api.openai.handlers import error_response

routes = [*handlers.routes, *embeddings.routes]

PATH_PREFIX = "/v1/"

__all__ = ["PATH_PREFIX", "error_response", "routes"]
