"""The HTTP server under the application: connection-level limits and errors.

aiohttp answers some requests before any handler or middleware sees them (a malformed request
line, a header too long, a bad Content-Length); those answers get the same JSON error body as
every other error here instead of aiohttp's plain text. And two connection timeouts aiohttp
lacks or sets for servers on the open internet:

- `server.header_timeout_s`: from the first byte of a request to the end of its headers (a
  slowloris client sending a header line now and then is cut off);
- `server.keepalive_timeout_s`: an idle keep-alive connection is closed.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Optional

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from gateway.errors import ApiError


class _GuardedRequestHandler(RequestHandler):
    header_timeout_s: float = 10.0
    error_body: Any = None  # ApiError -> dict, the error body of the default wire format

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._header_timer: Optional[asyncio.TimerHandle] = None

    def data_received(self, data: bytes) -> None:
        idle = not self._request_in_progress and not self._messages
        if idle and self._header_timer is None and data:
            self._header_timer = self._loop.call_later(self.header_timeout_s, self._headers_too_slow)
        super().data_received(data)
        if self._header_timer is not None and (self._messages or self._request_in_progress):
            self._header_timer.cancel()  # the headers are in
            self._header_timer = None

    def skip_lingering(self) -> None:
        """After this request's answer, close instead of reading the rest of its body."""
        self._lingering_time = 0.0

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self._request_in_progress and not self._messages:
            self.force_close()
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: Optional[BaseException] = None,
        message: Optional[str] = None,
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; refuses once bytes went out
        if status >= 500:
            error = ApiError(status, "internal server error; see the server log", type="server_error")
        else:
            text = (message or getattr(exc, "message", None) or "").strip().split("\n", 1)[0] or "unreadable"
            error = ApiError(status, f"malformed HTTP request: {text}", code="bad_http_request")
        response = web.Response(
            status=status, text=json.dumps(self.error_body(error)), content_type="application/json"
        )
        response.force_close()
        return response


class _GuardedServer(web.Server):
    def __call__(self) -> RequestHandler:
        return self.handler_class(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """AppRunner whose connections have the limits above and JSON error bodies."""

    def __init__(self, app: web.Application, *, header_timeout_s: float, error_body: Any, **kwargs: Any):
        super().__init__(app, **kwargs)
        self._handler_class = type(
            "RequestHandler", (_GuardedRequestHandler,), {"header_timeout_s": header_timeout_s,
                                                          "error_body": staticmethod(error_body)}
        )

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _GuardedServer  # only __call__ differs: it builds our handler class
        server.handler_class = self._handler_class  # type: ignore[attr-defined]
        return server
