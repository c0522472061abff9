"""Every request's lifetime limits, and the server's drain on shutdown.

- `server.request_timeout_s`: a request still running past it is ended — a stream with an
  error event and `[DONE]`, any other request with 504.
- `server.write_timeout_s`: a write the client does not take within it (a reader that stopped
  reading) aborts the connection; aiohttp then cancels the handler exactly as when a client
  disconnects, which closes the run, aborts it in the engine and frees its admission slots.
  The same happens when a local client's own receive buffer holds more than `_PEER_BACKLOG`
  bytes it does not read for that long (gateway.peer_backlog): Linux grows that buffer to
  megabytes, read or not, and it would otherwise take every write for many minutes.
- `server.body_timeout_s`: a request's body must arrive within it after the headers (a body
  sent a byte now and then, a Content-Length never sent, a chunked body without its end get
  408); a Content-Length over `server.max_body_bytes` is 413 before a byte of it is read.
  Either way the connection closes without waiting for the rest.
- Drain (SIGTERM): new requests get 503; running ones may finish during
  `server.shutdown_grace_s`; then they are ended like a timed-out request, with a 503 error.

Ending a request cancels its handler task with a recorded reason; the wire module's stream
loop (or the middleware, for other requests) turns that cancellation into the error answer.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from typing import Awaitable, Callable, Optional

from aiohttp import web

from gateway.errors import ApiError
from gateway.peer_backlog import PeerBacklog

LIFECYCLE = web.AppKey("lifecycle", "Lifecycle")
_GUARD = "request_guard"
_STREAM_BUFFER = 8192  # bytes: user-space write buffer high-water mark and SO_SNDBUF of a stream
_PEER_BACKLOG = 64 * 1024  # bytes a client may hold unread in its receive buffer without reading on


def _timed_out(limit: float) -> ApiError:
    return ApiError(
        504,
        f"the request ran longer than this server allows ({limit:g} s, setting server.request_timeout_s)",
        type="timeout_error",
        code="request_timeout",
    )


def _body_too_slow(limit: float) -> ApiError:
    return ApiError(
        408,
        f"the request body did not arrive within {limit:g} s (setting server.body_timeout_s)",
        code="body_timeout",
        headers={"Connection": "close"},
    )


def _body_too_large(length: int, limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body ({length} bytes by its Content-Length) is larger than this server accepts "
        f"({limit} bytes, setting server.max_body_bytes)",
        code="request_too_large",
        headers={"Connection": "close"},
    )


def _no_lingering(request: web.Request) -> None:
    """The connection closes once the error answer is out, without reading (for up to aiohttp's
    10 s of lingering) the rest of a body nobody wants."""
    protocol = request.protocol
    if hasattr(protocol, "skip_lingering"):
        protocol.skip_lingering()


async def read_body(request: web.Request, max_bytes: int, timeout_s: float) -> None:
    """Reads the whole body now (aiohttp keeps it for request.read()), within `timeout_s`."""
    length = request.content_length
    if length is not None and length > max_bytes:
        _no_lingering(request)
        raise _body_too_large(length, max_bytes)
    try:
        await asyncio.wait_for(request.read(), timeout_s)
    except asyncio.TimeoutError:
        _no_lingering(request)
        raise _body_too_slow(timeout_s) from None
    except web.HTTPRequestEntityTooLarge:
        _no_lingering(request)
        raise


def _shutting_down() -> ApiError:
    return ApiError(
        503,
        "the server is shutting down; retry against the restarted server",
        type="service_unavailable",
        code="shutting_down",
        headers={"Connection": "close", "Retry-After": "2"},
    )


class RequestGuard:
    """One request's limits: its deadline, stalled writes, and being ended at shutdown."""

    def __init__(self, request: web.Request, task: asyncio.Task, request_timeout_s: float, write_timeout_s: float):
        self._request = request
        self._task = task
        self._write_timeout = write_timeout_s
        self._loop = asyncio.get_running_loop()
        self.reason: Optional[ApiError] = None
        self.active = True
        self.stalled = False
        self.response: Optional[web.StreamResponse] = None
        self._peer: Optional[PeerBacklog] = None
        self._deadline = self._loop.call_later(request_timeout_s, self.end, _timed_out(request_timeout_s))

    def end(self, reason: ApiError) -> None:
        """End the request now with `reason` (once; no-op when it already finished)."""
        if self.active and self.reason is None:
            self.reason = reason
            self._task.cancel()

    def taken(self) -> Optional[ApiError]:
        """After a CancelledError: the reason if this guard ended the request (the cancellation is
        then consumed), None if the cancellation came from elsewhere (the client went away)."""
        if self.reason is None:
            return None
        uncancel = getattr(self._task, "uncancel", None)  # Python 3.11+
        if uncancel is not None and self._task.cancelling():
            uncancel()
        return self.reason

    def streaming(self, response: web.StreamResponse) -> None:
        """A stream starts: small send buffers, so a reader that stops reading blocks our
        writes after a few kilobytes (not after megabytes of kernel autotuned buffer) and the
        write timeout sees it. SSE chunks are a few hundred bytes; this costs no throughput."""
        self.response = response
        transport = self._request.transport
        if transport is None:
            return
        transport.set_write_buffer_limits(high=_STREAM_BUFFER)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _STREAM_BUFFER)
            self._peer = PeerBacklog(sock, _PEER_BACKLOG, self._write_timeout)
            self._peer.sample(self._loop.time())

    async def write(self, response: web.StreamResponse, data: bytes) -> None:
        """response.write, but a client that takes nothing for write_timeout_s is cut off."""
        transport = self._request.transport
        if self._peer is not None and self._peer.sample(self._loop.time()):
            self._stall()  # behind by more than _PEER_BACKLOG, reading nothing, for write_timeout_s
            raise ConnectionResetError("the client stopped reading")
        if transport is not None and transport.get_write_buffer_size() + len(data) <= _STREAM_BUFFER:
            # Below the high-water mark nothing waits for the client (the usual case, once per
            # token): no timer to arm and cancel.
            await response.write(data)
            return
        timer = self._loop.call_later(self._write_timeout, self._stall)
        try:
            await response.write(data)
            # aiohttp itself waits for the client only every 64 KiB; wait at our buffer's size.
            if transport is not None and transport.get_write_buffer_size() > _STREAM_BUFFER:
                await self._request.writer.drain()
        finally:
            timer.cancel()

    def _stall(self) -> None:
        self.stalled = True
        self._request.app[LIFECYCLE].stalled_total += 1
        transport = self._request.transport
        if transport is not None:
            transport.abort()  # connection_lost: the pending write raises, the handler is cancelled

    def close(self) -> None:
        self.active = False
        self._deadline.cancel()


class Lifecycle:
    def __init__(
        self,
        request_timeout_s: float,
        write_timeout_s: float,
        body_timeout_s: float = 30.0,
        max_body_bytes: int = 8 * 1024 * 1024,
    ):
        self._request_timeout = request_timeout_s
        self._write_timeout = write_timeout_s
        self._body_timeout = body_timeout_s
        self._max_body = max_body_bytes
        self.guards: set[RequestGuard] = set()
        self.draining = False
        self.stalled_total = 0  # streams cut off because the client stopped reading
        self.ended_total = 0  # requests ended by the deadline or by shutdown
        self._idle = asyncio.Event()
        self._idle.set()

    def middleware(self) -> Callable:
        @web.middleware
        async def guard_request(request: web.Request, handler: Callable) -> web.StreamResponse:
            if self.draining:
                raise _shutting_down()
            task = asyncio.current_task()
            assert task is not None
            guard = RequestGuard(request, task, self._request_timeout, self._write_timeout)
            request[_GUARD] = guard
            self.guards.add(guard)
            self._idle.clear()
            try:
                if request.body_exists:
                    await read_body(request, self._max_body, self._body_timeout)
                return await handler(request)
            except asyncio.CancelledError:
                reason = guard.taken()
                if reason is None:
                    raise
                if guard.response is not None and guard.response.prepared:
                    return guard.response  # a stream that already said why it ended
                raise reason from None
            finally:
                guard.close()
                if guard.reason is not None:
                    self.ended_total += 1
                self.guards.discard(guard)
                if not self.guards:
                    self._idle.set()

        return guard_request

    def start_draining(self) -> None:
        self.draining = True

    async def wait_idle(self, timeout: float) -> bool:
        """True when no request runs any more, False when `timeout` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def end_all(self) -> int:
        """End every running request with a shutdown error; returns how many."""
        running = list(self.guards)
        for guard in running:
            guard.end(_shutting_down())
        return len(running)


def request_guard(request: web.Request) -> Optional[RequestGuard]:
    return request.get(_GUARD)


async def open_stream(
    request: web.Request, content_type: str, headers: Optional[dict[str, str]] = None
) -> tuple[web.StreamResponse, Callable[[bytes], Awaitable[None]]]:
    """A streamed answer, its headers sent, and the write every chunk goes through: under the
    request's guard (stalled-write and unread-backlog limits) when the request has one."""
    # no-transform and X-Accel-Buffering: proxies in between (code-server's /proxy/PORT/ with its
    # compression, nginx) must pass each chunk on as it comes instead of compressing or buffering.
    response = web.StreamResponse(
        headers={"Content-Type": content_type, "Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no",
                 **(headers or {})}
    )
    await response.prepare(request)
    guard = request_guard(request)
    if guard is None:
        return response, response.write
    guard.streaming(response)
    return response, functools.partial(guard.write, response)
