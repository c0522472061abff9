"""One door: the gateway's port is the only listener that reaches the model.

llama.cpp (inside the embedded engine) opens its own HTTP server, with no key, /slots open and
CORS for any origin. It must not be a second door: no TCP port at all (a private Unix socket),
and a key even there.
"""
from __future__ import annotations

import os
import re
import stat

import httpx
import psutil


def _listeners(pid: int) -> list:
    return [c.laddr for c in psutil.Process(pid).net_connections("inet") if c.status == psutil.CONN_LISTEN]


def test_gateway_port_is_the_only_tcp_listener(gateway):
    assert _listeners(gateway.process.pid) == [("127.0.0.1", gateway.port)]


def _llama_address(gw) -> str:
    # The whole log: the line is written at start, and this module's gateway is shared.
    match = re.search(r"llama\.cpp's own server listens on (\S+)", gw.log_path.read_text(errors="replace"))
    assert match, gw.log()
    return match.group(1)


def test_llama_listener_is_a_private_socket_that_wants_its_key(gateway):
    address = _llama_address(gateway)
    assert address.startswith("unix://"), address
    path = address.removeprefix("unix://")
    folder = os.path.dirname(path)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700  # other local users cannot connect
    transport = httpx.HTTPTransport(uds=path)
    with httpx.Client(transport=transport, base_url="http://llama.cpp", timeout=10) as client:
        chat = client.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
            headers={"Origin": "http://evil.example"},
        )
        assert chat.status_code == 401
        assert chat.headers.get("Access-Control-Allow-Origin") in (None, "")
        for path_ in ("/slots", "/props", "/tokenize"):
            answer = client.request("GET" if path_ != "/tokenize" else "POST", path_, json={"content": "x"})
            assert answer.status_code in (401, 404, 501), (path_, answer.status_code)
        guessed = client.post("/tokenize", json={"content": "x"}, headers={"Authorization": "Bearer no-key"})
        assert guessed.status_code == 401


def test_the_gateway_still_tokenizes_through_it(gateway):
    from openai import OpenAI

    client = OpenAI(base_url=gateway.base_url, api_key="unused")
    # History fitting tokenizes through the private listener.
    answer = client.chat.completions.create(
        model=client.models.list().data[0].id,
        messages=[{"role": "user", "content": "Say hi"}],
        max_tokens=4,
        extra_body={"truncate_prompt_tokens": -1},
    )
    assert answer.usage.prompt_tokens > 0
