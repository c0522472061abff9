"""The OpenAI wire format: handlers.py (routes) over protocol.py (request, response, chunk
and error models)."""
from gateway.api.openai.handlers import error_response, routes

PATH_PREFIX = "/v1/"

__all__ = ["PATH_PREFIX", "error_response", "routes"]
