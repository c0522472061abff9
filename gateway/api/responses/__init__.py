"""OpenAI's Responses API: handlers.py (POST /v1/responses, GET and DELETE /v1/responses/{id})
over protocol.py (request and response models), stream.py (output items and stream events) and
store.py (the bounded in-memory store behind previous_response_id)."""
from gateway.api.responses import handlers
from gateway.api.responses.handlers import error_response
from gateway.api.responses.store import setup

routes = handlers.routes

PATH_PREFIX = "/v1/responses"

__all__ = ["PATH_PREFIX", "error_response", "routes", "setup"]
