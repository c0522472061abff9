"""Anthropic's Messages API: handlers.py (POST /v1/messages, /v1/messages/count_tokens) over
protocol.py (request, answer and error models), stream.py (content blocks and stream events) and
stop_sequences.py (which sequence stopped the answer)."""
from gateway.api.anthropic import handlers
from gateway.api.anthropic.handlers import error_response

routes = [*handlers.routes]

# Under the OpenAI module's /v1/: the longer prefix wins (gateway/app.py).
PATH_PREFIX = "/v1/messages"

__all__ = ["PATH_PREFIX", "error_response", "routes"]
