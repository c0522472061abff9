"""The OpenAI wire format: handlers.py (chat, completions, models), embeddings.py and
tokenize.py (vLLM's /tokenize and /detokenize) over protocol.py (request, response, chunk and
error models)."""
from gateway.api.openai import embeddings, handlers, tokenize
from gateway.api.openai.handlers import error_response

routes = [*handlers.routes, *embeddings.routes, *tokenize.routes]

PATH_PREFIX = "/v1/"
# Paths of this wire format outside PATH_PREFIX (vLLM's): API keys and this error body apply.
EXTRA_PATHS = tokenize.PATHS

__all__ = ["EXTRA_PATHS", "PATH_PREFIX", "error_response", "routes"]
