"""The language server under bad input: broken framing ends it with a clear stderr line and
exit status 1 (the editor restarts it) instead of a server that never answers again; a body
that is not JSON gets -32700 and reading goes on; invalid params (a negative position) get
-32602. Raw bytes on stdin: no LSP client library sends broken framing on purpose."""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class RawServer:
    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "lsp"], cwd=ROOT, env=os.environ.copy(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
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
        out = self.process.stdout
        if not select.select([out], [], [], timeout)[0]:
            return None
        length = None
        while True:
            line = out.readline()
            if not line:
                return None
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
            if line == b"\r\n":
                return json.loads(out.read(length))

    def answer(self, request_id, timeout: float = 60):
        while True:
            message = self._read(timeout)
            if message is None or (message.get("id") == request_id and "method" not in message):
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
