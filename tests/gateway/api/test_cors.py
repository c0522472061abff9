"""server.cors_origins: preflights answered and headers set for the listed origins only."""
from __future__ import annotations

import json

import aiohttp
import pytest

ALLOWED = "http://localhost:5173"


@pytest.fixture(scope="module")
def cors_gateway(start_gateway):
    return start_gateway(env={"OSS_SIDECAR_SERVER__CORS_ORIGINS": json.dumps([ALLOWED])})


async def test_listed_origin_gets_preflight_and_headers(cors_gateway):
    preflight = {
        "Origin": ALLOWED,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with aiohttp.ClientSession() as session:
        async with session.options(cors_gateway.base_url + "/chat/completions", headers=preflight) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
            assert "POST" in resp.headers["Access-Control-Allow-Methods"]
            allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
            assert {"authorization", "content-type"} <= allowed
        body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, "stream": True}
        async with session.post(cors_gateway.base_url + "/chat/completions", json=body, headers={"Origin": ALLOWED}) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
            await resp.read()


async def test_other_origins_get_no_cors(cors_gateway, gateway):
    # Unlisted origins are refused outright (docs/SECURITY.md): no CORS headers, 403 in the API's body.
    async with aiohttp.ClientSession() as session:
        # The default list (Ollama's) has pages on this machine, not foreign ones; a configured
        # list replaces it.
        for gw, origin in ((cors_gateway, "http://evil.example"), (gateway, "https://evil.example"),
                           (gateway, "http://localhost:5173.evil.example"), (cors_gateway, "http://localhost:3000")):
            headers = {"Origin": origin, "Access-Control-Request-Method": "POST"}
            async with session.options(gw.base_url + "/chat/completions", headers=headers) as resp:
                assert resp.status == 403
                assert "Access-Control-Allow-Origin" not in resp.headers
            async with session.get(gw.base_url + "/models", headers={"Origin": origin}) as resp:
                assert resp.status == 403 and (await resp.json())["error"]["code"] == "origin_not_allowed"
                assert "Access-Control-Allow-Origin" not in resp.headers


async def test_default_origins_are_ollamas(gateway):
    """Without server.cors_origins, as Ollama without OLLAMA_ORIGINS: local pages and app webviews."""
    async with aiohttp.ClientSession() as session:
        for origin in ("http://localhost:5173", "http://127.0.0.1", "https://0.0.0.0:8443", "app://obsidian.md",
                       "tauri://localhost", "vscode-webview://1abc"):
            async with session.get(gateway.base_url + "/models", headers={"Origin": origin}) as resp:
                assert resp.status == 200, origin
                assert resp.headers["Access-Control-Allow-Origin"] == origin


async def test_preflight_allows_the_headers_the_sdk_asks_for(cors_gateway):
    """The openai JS SDK's preflight, as Chromium sends it (headers lower-case, sorted)."""
    asked = ("authorization,content-type,x-stainless-arch,x-stainless-lang,x-stainless-os,"
             "x-stainless-package-version,x-stainless-retry-count,x-stainless-runtime,"
             "x-stainless-runtime-version,x-stainless-timeout")
    preflight = {"Origin": ALLOWED, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": asked}
    async with aiohttp.ClientSession() as session:
        async with session.options(cors_gateway.base_url + "/chat/completions", headers=preflight) as resp:
            assert resp.status == 204
            allowed = {h.strip() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
    assert set(asked.split(",")) <= allowed
