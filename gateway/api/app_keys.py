"""What every handler module finds on the application: the serving core and the metrics."""
from __future__ import annotations

from aiohttp import web

from gateway.serving import Serving
from gateway.serving.embeddings import Embeddings
from gateway.telemetry import Metrics

SERVING = web.AppKey("serving", Serving)
METRICS = web.AppKey("metrics", Metrics)
# The embedding model's serving (absent when embeddings.enabled is false).
EMBEDDINGS = web.AppKey("embeddings", Embeddings)
