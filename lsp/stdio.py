"""The language server's stdio loop: strict message framing, and the JSON-RPC errors that
pygls' own loop leaves out.

pygls (2.1) reads `Content-Length` loosely: after a garbage or missing length the bodies
swallow the next headers and the server never answers again, and a request whose params do
not fit the method's types is dropped without an answer. Here:

- a framing error (a header line that is no header, no or a bad Content-Length, a short
  body) ends the server with one stderr line and exit status 1, so the editor restarts it;
- a body that is not JSON is answered with -32700 (the framing was sound, so reading goes on);
- params that do not fit the method (a negative position, a missing field) get -32602 with
  the request's id.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
import sys
import threading
from typing import Any, Callable

from pygls.exceptions import JsonRpcInvalidParams, JsonRpcParseError
from pygls.io_ import StdinAsyncReader, StdoutWriter

_HEADER = re.compile(rb"^([A-Za-z][A-Za-z0-9-]*): *(.*?)\r?\n$")
_MAX_BODY = 64 * 1024 * 1024  # far above any LSP message; a larger length is a framing error


class FramingError(Exception):
    """The byte stream no longer follows LSP's base protocol."""


async def read_message(reader: StdinAsyncReader) -> bytes | None:
    """One message body; None at end of input; FramingError when the framing is broken."""
    length = None
    while True:
        line = await reader.readline()
        if not line:
            if length is None:
                return None
            raise FramingError("input ended inside a message header")
        if line in (b"\r\n", b"\n"):
            break
        match = _HEADER.match(line)
        if match is None:
            raise FramingError(f"not a header line: {line[:80]!r}")
        if match.group(1).lower() == b"content-length":
            value = match.group(2)
            if not value.isdigit() or int(value) > _MAX_BODY:
                raise FramingError(f"bad Content-Length: {value[:40]!r}")
            length = int(value)
    if length is None:
        raise FramingError("a message without Content-Length")
    body = await reader.readexactly(length)
    if len(body) != length:
        raise FramingError(f"input ended after {len(body)} of {length} body bytes")
    return body


def _dispatch(protocol: Any, body: bytes) -> None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        protocol._send_response(None, error=JsonRpcParseError(f"the message is not JSON: {exc}").to_response_error())
        return
    request_id = data.get("id") if isinstance(data, dict) and "method" in data else None
    try:
        # pygls' own structuring: the typed message for its method, JsonRpcInvalidParams if
        # the params do not fit.
        message = json.loads(body, object_hook=protocol.structure_message)
    except JsonRpcInvalidParams as exc:
        if request_id is not None:
            detail = _first_leaf(exc.__cause__) or "the params do not fit the method"
            protocol._send_response(
                request_id, error=JsonRpcInvalidParams(f"Invalid params: {detail}").to_response_error()
            )
        return
    protocol.handle_message(message)


def _first_leaf(exc: BaseException | None) -> str:
    """The innermost message of cattrs' nested validation errors (e.g. Position.line's range)."""
    while exc is not None and getattr(exc, "exceptions", None):
        exc = exc.exceptions[0]
    return str(exc).splitlines()[0] if exc is not None else ""


async def _run(stop_event: threading.Event, reader: StdinAsyncReader, protocol: Any) -> None:
    while not stop_event.is_set():
        body = await read_message(reader)
        if body is None:
            return
        try:
            _dispatch(protocol, body)
        except Exception as exc:  # a handler bug must not take the reader down with it
            print(f"oss-sidecar lsp: cannot handle a message: {exc!r}", file=sys.stderr, flush=True)


def serve_stdio(server: Any) -> int:
    """Run `server` (a pygls LanguageServer) on stdin/stdout; returns the exit status."""
    server._stop_event = stop_event = threading.Event()
    reader = StdinAsyncReader(sys.stdin.buffer, server.thread_pool)
    server.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
    try:
        asyncio.run(_run(stop_event, reader, server.protocol))
        return 0
    except FramingError as exc:
        print(
            f"oss-sidecar lsp: the client broke LSP message framing ({exc}); exiting so the editor restarts the server",
            file=sys.stderr,
            flush=True,
        )
        return 1
    except BrokenPipeError:
        print("oss-sidecar lsp: the editor closed the connection", file=sys.stderr, flush=True)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        server.shutdown()


def position_params(handler: Callable) -> Callable:
    """For handlers of untyped (custom) methods: positions in the params must be non-negative
    integers, else -32602 (instead of the -32603 a ValueError deeper down would give)."""

    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def checked_async(ls: Any, params: Any, *args: Any) -> Any:
            _check_positions(params, "params")
            return await handler(ls, params, *args)

        return checked_async

    @functools.wraps(handler)
    def checked(ls: Any, params: Any, *args: Any) -> Any:
        _check_positions(params, "params")
        return handler(ls, params, *args)

    return checked


def _check_positions(value: Any, where: str) -> None:
    if hasattr(value, "_asdict"):
        value = value._asdict()
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if hasattr(item, "_asdict"):
            item = item._asdict()
        if key in ("position", "start", "end") and isinstance(item, dict):
            for field in ("line", "character"):
                number = item.get(field)
                if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number < 2**31:
                    raise JsonRpcInvalidParams(
                        f"Invalid params: {where}.{key}.{field} must be an integer from 0 to 2^31-1 (got {number!r})"
                    )
        elif isinstance(item, dict):
            _check_positions(item, f"{where}.{key}")
