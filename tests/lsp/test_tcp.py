"""``oss-sidecar lsp --tcp HOST:PORT``: the same server over a socket."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

from lsp_harness import ROOT, free_port, server_command


async def _rpc(reader, writer, payload: dict) -> dict:
    body = json.dumps(payload).encode()
    writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()
    while True:
        headers = await reader.readuntil(b"\r\n\r\n")
        length = int(headers.split(b"Content-Length:")[1].split(b"\r\n")[0])
        message = json.loads(await reader.readexactly(length))
        if message.get("id") == payload["id"]:
            return message


async def test_tcp_transport_initializes():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([*server_command(), "--tcp", f"127.0.0.1:{port}"], cwd=ROOT, env=env)
    try:
        for _ in range(100):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("language server did not listen on TCP")
        answer = await asyncio.wait_for(
            _rpc(
                reader,
                writer,
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "processId": None,
                        "rootUri": None,
                        "capabilities": {},
                        # an unused port: nothing is contacted before `initialized`
                        "initializationOptions": {"gatewayUrl": f"http://127.0.0.1:{free_port()}"},
                    },
                },
            ),
            30,
        )
        caps = answer["result"]["capabilities"]
        assert "inlineCompletionProvider" in caps
        assert caps["codeActionProvider"]["resolveProvider"] is True
        assert answer["result"]["serverInfo"]["name"] == "oss-sidecar"
        writer.close()
    finally:
        proc.terminate()
        proc.wait(10)
