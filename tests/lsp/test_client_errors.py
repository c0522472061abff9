"""Each way the gateway can fail gets its own message (lsp/client.py), against real sockets:
nothing listening, a listener that never answers, the real gateway refusing a request, and an
HTTP proxy in front of a stopped gateway answering 502 with an HTML page."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web
from lsp_harness import free_port

from lsp.client import GatewayClient, GatewayError


async def _complete(client: GatewayClient, timeout_s: float = 5.0, model: str = "default"):
    try:
        await client.complete(
            prompt="x = ", suffix=None, model=model, max_tokens=2, temperature=0.0, timeout_s=timeout_s
        )
    finally:
        await client.close()


async def test_nothing_listening_is_unreachable():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(GatewayError) as failed:
        await _complete(GatewayClient(url))
    assert failed.value.unreachable
    assert str(failed.value) == f"gateway unreachable at {url}: nothing listens there (connection refused)"
    with pytest.raises(GatewayError) as failed:
        await GatewayClient(url).model_info()
    assert failed.value.unreachable and "connection refused" in str(failed.value)


async def test_a_listener_that_never_answers_is_a_timeout_not_unreachable():
    # TimeoutError is an OSError in Python 3.11: it must not be reported as "unreachable"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        with pytest.raises(GatewayError) as failed:
            await _complete(GatewayClient(url), timeout_s=0.5)
        assert not failed.value.unreachable
        assert str(failed.value) == f"gateway at {url} did not answer within 0.5 s"
        client = GatewayClient(url)
        with pytest.raises(GatewayError) as failed:
            await asyncio.wait_for(client.model_info(), 10)
        await client.close()
        assert not failed.value.unreachable and "did not answer within 5 s" in str(failed.value)


async def test_a_refused_request_names_the_status_and_the_gateways_reason(gateway):
    with pytest.raises(GatewayError) as failed:
        await _complete(GatewayClient(gateway.base_url), model="no-such-model")
    assert not failed.value.unreachable and failed.value.status == 404
    assert str(failed.value).startswith("gateway refused the request (404): ")
    assert "no-such-model" in str(failed.value)


async def test_a_server_error_from_a_proxy_is_a_gateway_failure():
    async def bad_gateway(request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", bad_gateway)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        with pytest.raises(GatewayError) as failed:
            await _complete(GatewayClient(f"http://127.0.0.1:{port}/v1"))
        assert not failed.value.unreachable and failed.value.status == 502
        assert str(failed.value) == "gateway failed (502): Bad Gateway"
    finally:
        await runner.cleanup()
