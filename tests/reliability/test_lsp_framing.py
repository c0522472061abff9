"""The language server under bad input: broken framing ends it with a clear stderr line and
exit status 1 (the editor restarts it) instead of a server that never answers again; a body
that is not JSON gets -32700 and reading goes on; invalid params (a negative position) get
-32602; a message that is no JSON-RPC 2.0 object (no "jsonrpc", a batch array) gets -32600; a
request before initialize gets -32002 without a traceback; a didChange for a document never
opened is skipped with a log line, not a "KeyError" shown to the user. Raw bytes on stdin: no LSP client library sends broken framing on purpose."""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class RawServer:
    def __init__(self, initialize: bool = True):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "lsp"], cwd=ROOT, env=os.environ.copy(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._stdout = self.process.stdout.fileno()
        self._buffer = b""
        if initialize:
            self.initialize()

    def initialize(self) -> None:
        self.send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                   "params": {"capabilities": {}, "initializationOptions": {"gatewayUrl": "http://127.0.0.1:9"}}})
        assert self.answer(1) is not None
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        self.send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": "file:///a.py", "languageId": "python", "version": 1, "text": "def f():\n    pass\n"}}})

    def raw(self, data: bytes) -> None:
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def send(self, message: dict) -> None:
        body = json.dumps(message).encode()
        self.raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def _read(self, timeout: float):
        """The next message, or None after `timeout` or at the end of output. Read from the pipe's
        descriptor into a buffer of our own: a buffered file may already hold the next message
        where `select` on the descriptor cannot see it."""
        deadline = time.monotonic() + timeout
        while True:
            head, sep, rest = self._buffer.partition(b"\r\n\r\n")
            if sep:
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                if len(rest) >= length:
                    self._buffer = rest[length:]
                    return json.loads(rest[:length])
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._stdout], [], [], left)[0]:
                return None
            chunk = os.read(self._stdout, 65536)
            if not chunk:
                return None
            self._buffer += chunk

    def answer(self, request_id, timeout: float = 60):
        while True:
            message = self._read(timeout)
            if message is None or (message.get("id") == request_id and "method" not in message):
                return message

    def notification(self, method: str, timeout: float = 60):
        while True:
            message = self._read(timeout)
            if message is None or message.get("method") == method:
                return message

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture
def server():
    s = RawServer()
    yield s
    s.close()


NEGATIVE = {"line": -1, "character": -5}


@pytest.mark.parametrize(
    "method, params",
    [
        ("textDocument/inlineCompletion",
         {"textDocument": {"uri": "file:///a.py"}, "position": NEGATIVE, "context": {"triggerKind": 1}}),
        ("textDocument/codeAction",
         {"textDocument": {"uri": "file:///a.py"}, "range": {"start": NEGATIVE, "end": NEGATIVE},
          "context": {"diagnostics": []}}),
        ("ossSidecar/debugContext", {"textDocument": {"uri": "file:///a.py"}, "position": NEGATIVE}),
    ],
)
def test_negative_position_is_invalid_params(server, method, params):
    server.send({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
    answer = server.answer(7)
    assert answer is not None, "no answer at all"
    assert "error" in answer and answer["error"]["code"] == -32602, answer
    assert "line" in answer["error"]["message"]


def test_body_that_is_not_json_gets_parse_error_and_reading_goes_on(server):
    server.raw(b"Content-Length: 9\r\n\r\n{not json")
    error = server.answer(None)  # a parse error answers with id null
    assert error is not None and error["error"]["code"] == -32700, error
    server.send({"jsonrpc": "2.0", "id": 8, "method": "shutdown"})
    assert server.answer(8) is not None


@pytest.mark.parametrize(
    "garbage",
    [
        b"Content-Length: abc\r\n\r\n{}",
        b"Content-Type: application/json\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"shutdown\"}",
        b"hello there\r\n",
    ],
)
def test_broken_framing_exits_1_with_a_clear_line(server, garbage):
    server.raw(garbage)
    server.send({"jsonrpc": "2.0", "id": 9, "method": "shutdown"})
    assert server.process.wait(15) == 1
    stderr = server.process.stderr.read().decode()
    assert "broke LSP message framing" in stderr and "restarts" in stderr, stderr[-500:]


@pytest.mark.parametrize(
    "body, request_id",
    [
        (b'{"id": 11, "method": "shutdown"}', 11),  # no "jsonrpc"
        (b'{"jsonrpc": "1.0", "id": 12, "method": "shutdown"}', 12),
        (b'[{"jsonrpc": "2.0", "id": 13, "method": "shutdown"}]', None),  # a batch: LSP has none
        (b"42", None),
    ],
)
def test_messages_that_are_no_json_rpc_get_invalid_request(server, body, request_id):
    server.raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    answer = server.answer(request_id)
    assert answer is not None, "dropped without an answer"
    assert answer["error"]["code"] == -32600 and "id" in answer, answer
    server.send({"jsonrpc": "2.0", "id": 14, "method": "shutdown"})
    assert server.answer(14) is not None  # reading goes on


def test_a_request_before_initialize_is_server_not_initialized():
    server = RawServer(initialize=False)
    try:
        server.send({"jsonrpc": "2.0", "id": 20, "method": "textDocument/codeAction", "params": {
            "textDocument": {"uri": "file:///a.py"}, "range": {"start": {"line": 0, "character": 0},
            "end": {"line": 0, "character": 0}}, "context": {"diagnostics": []}}})
        answer = server.answer(20)
        assert answer is not None and answer["error"]["code"] == -32002, answer
        assert "initialize" in answer["error"]["message"] and "data" not in answer["error"], answer
        server.initialize()  # and the server still starts normally
    finally:
        server.close()


def test_did_change_on_an_unopened_document_is_logged_not_a_key_error(server):
    server.send({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": "file:///never-opened.py", "version": 2}, "contentChanges": [{"text": "x = 1\n"}]}})
    server.send({"jsonrpc": "2.0", "id": 15, "method": "shutdown"})
    seen = []
    while (message := server._read(30)) is not None:
        seen.append(message)
        if message.get("id") == 15:
            break
    shown = [m["params"]["message"] for m in seen if m.get("method") in ("window/showMessage", "window/logMessage")]
    assert not any("KeyError" in text for text in shown), shown
    assert any("never opened" in text and "never-opened.py" in text for text in shown), shown
