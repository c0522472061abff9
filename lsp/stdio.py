"""The language server's stdio loop: strict message framing, and the JSON-RPC errors that
pygls' own loop leaves out.

pygls (2.1) reads `Content-Length` loosely: after a garbage or missing length the bodies
swallow the next headers and the server never answers again, and a request whose params do
not fit the method's types is dropped without an answer. Here:

- a framing error (a header line that is no header, no or a bad Content-Length, a short
  body) ends the server with one stderr line and exit status 1, so the editor restarts it;
- a body that is not JSON is answered with -32700 (the framing was sound, so reading goes on);
- params that do not fit the method (a negative position, a missing field) get -32602 with
  the request's id;
- a message that is no JSON-RPC 2.0 object (no `"jsonrpc": "2.0"`, a batch array — LSP has no
  batches —, a bare number) gets -32600 (pygls drops it without a word);
- a request before `initialize` gets LSP's -32002 ServerNotInitialized (pygls answers with its
  handler's traceback); notifications before it are dropped, as LSP says;
- a `didChange` for a document that was never opened is skipped with a warning in the client's
  log (pygls shows the user "KeyError").
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

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcParseError,
    JsonRpcServerNotInitialized,
)
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


class _Connection:
    """What the loop knows of the client: whether it has sent `initialize` yet."""

    def __init__(self) -> None:
        self.initialized = False


def _refuse(protocol: Any, request_id: Any, error: Exception) -> None:
    """An error response; `"id": null` when the message's id cannot be known, as JSON-RPC says
    (pygls' own responses leave a null id out)."""
    if request_id is not None:
        protocol._send_response(request_id, error=error.to_response_error())
        return
    response = error.to_response_error()
    protocol._send_data({"jsonrpc": "2.0", "id": None, "error": {"code": response.code, "message": response.message}})


def _valid_id(data: dict) -> Any:
    value = data.get("id")
    return value if isinstance(value, (int, str)) and not isinstance(value, bool) else None


def _dispatch(protocol: Any, body: bytes, connection: _Connection) -> None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        _refuse(protocol, None, JsonRpcParseError(f"the message is not JSON: {exc}"))
        return
    if isinstance(data, list):
        _refuse(protocol, None, JsonRpcInvalidRequest("batch arrays are not part of LSP: send one message at a time"))
        return
    if not isinstance(data, dict):
        _refuse(protocol, None, JsonRpcInvalidRequest("a JSON-RPC message must be a JSON object"))
        return
    if data.get("jsonrpc") != "2.0":
        _refuse(protocol, _valid_id(data), JsonRpcInvalidRequest('a JSON-RPC 2.0 message needs "jsonrpc": "2.0"'))
        return
    method = data.get("method")
    request_id = data.get("id") if "method" in data else None
    if isinstance(method, str) and not connection.initialized and method not in ("initialize", "exit"):
        if request_id is not None:
            _refuse(protocol, request_id, JsonRpcServerNotInitialized("the server is not initialized: send initialize first"))
        return  # a notification before initialize: dropped, as LSP says
    if method == types.TEXT_DOCUMENT_DID_CHANGE and not _is_open(protocol, data.get("params")):
        return
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
    if method == "initialize":
        connection.initialized = True
    protocol.handle_message(message)


def _is_open(protocol: Any, params: Any) -> bool:
    """Whether a didChange's document is open; if not, the client's log says so."""
    document = params.get("textDocument") if isinstance(params, dict) else None
    uri = document.get("uri") if isinstance(document, dict) else None
    if not isinstance(uri, str) or uri in protocol.workspace.text_documents:
        return True  # (a malformed one goes on to pygls' -32602 path)
    protocol.notify(
        types.WINDOW_LOG_MESSAGE,
        types.LogMessageParams(
            type=types.MessageType.Warning,
            message=f"oss-sidecar: didChange for {uri}, which was never opened (send didOpen first); ignored",
        ),
    )
    return False


def _first_leaf(exc: BaseException | None) -> str:
    """The innermost message of cattrs' nested validation errors (e.g. Position.line's range)."""
    while exc is not None and getattr(exc, "exceptions", None):
        exc = exc.exceptions[0]
    return str(exc).splitlines()[0] if exc is not None else ""


async def _run(stop_event: threading.Event, reader: StdinAsyncReader, protocol: Any) -> None:
    connection = _Connection()
    while not stop_event.is_set():
        body = await read_message(reader)
        if body is None:
            return
        try:
            _dispatch(protocol, body, connection)
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
