"""Local means local: web pages the user opens cannot use the model through the gateway.

DNS rebinding (a page whose name resolves to 127.0.0.1) is refused by the Host check;
cross-site "simple" requests (text/plain, forms: no CORS preflight) by requiring JSON of every
request with an Origin (scripts send none, and their JSON is read under any content type); and
cross-origin reads by CORS that allows only `server.cors_origins`. The chat page carries its
security headers as headers.
"""
from __future__ import annotations

import json
import subprocess
import urllib.request

import httpx
import pytest
import requests

ALLOWED_ORIGIN = "http://editor.example:3000"
CHAT = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
MODEL = "SmolLM2-135M-Instruct.Q4_1"


@pytest.fixture(scope="module")
def gw(start_gateway):
    return start_gateway(
        env={
            "OSS_SIDECAR_SERVER__ALLOWED_HOSTS": "[my-box.lan]",
            "OSS_SIDECAR_SERVER__CORS_ORIGINS": f"[{ALLOWED_ORIGIN}]",
        }
    )


@pytest.fixture(scope="module")
def http(gw):
    with httpx.Client(base_url=gw.url, timeout=60) as client:
        yield client


@pytest.mark.parametrize(
    "host",
    [
        "rebind.evil.example", "rebind.evil.example:8000", "0.0.0.0", "10.1.2.3",
        # Loopback-looking prefixes of a foreign name: no host[:port] at all.
        "[::1]evil.example", "127.0.0.1:80@evil.example", "localhost:80@evil.example", "[::1]:80.evil.example",
    ],
)
def test_foreign_host_names_are_refused(http, host):
    for method, path in (("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("GET", "/")):
        answer = http.request(method, path, json=CHAT if method == "POST" else None, headers={"Host": host})
        assert answer.status_code == 403, (path, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "host_not_allowed" and "server.allowed_hosts" in error["message"]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "my-box.lan", "chat.localhost"])
def test_loopback_and_configured_names_are_served(http, gw, host):
    answer = http.get("/v1/models", headers={"Host": f"{host}:{gw.port}"})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat", "/tokenize"])
def test_a_browsers_posts_must_be_json(http, gw, content_type, path):
    # A browser's POST carries an Origin, its own page's too: even same-origin, a form is refused.
    headers = {"Origin": gw.url, **({"Content-Type": content_type} if content_type else {})}
    answer = http.post(path, content=b'{"messages":[{"role":"user","content":"hi"}]}', headers=headers)
    assert answer.status_code == 415, answer.text
    error = answer.json()["error"]  # Ollama's error is the message alone
    assert "application/json" in error if path.startswith("/api/") else error["code"] == "unsupported_media_type"


OLLAMA_GENERATE = json.dumps({"model": MODEL, "prompt": "Why is the sky blue?", "options": {"num_predict": 2}})


def _ndjson_done(text: str) -> bool:
    return json.loads(text.strip().splitlines()[-1])["done"] is True


def test_scripts_post_json_under_any_content_type(gw):
    """No Origin, no browser: Ollama's docs' `curl -d` (a form's content type), `requests` with
    `data=` (none), urllib (a form's) all have their JSON body read, as Ollama reads it."""
    curl = subprocess.run(
        ["curl", "-sS", "--fail-with-body", f"{gw.url}/api/generate", "-d", OLLAMA_GENERATE],
        capture_output=True, text=True, timeout=120,
    )
    assert curl.returncode == 0 and _ndjson_done(curl.stdout), curl.stdout + curl.stderr
    answer = requests.post(f"{gw.url}/api/generate", data=OLLAMA_GENERATE, timeout=120)
    assert answer.status_code == 200 and _ndjson_done(answer.text), answer.text
    # urllib sends a body as application/x-www-form-urlencoded unless told otherwise.
    request = urllib.request.Request(f"{gw.url}/v1/chat/completions", data=json.dumps(CHAT).encode())
    with urllib.request.urlopen(request, timeout=120) as resp:
        assert json.load(resp)["choices"][0]["message"]["content"]


def test_a_method_a_route_lacks_is_405_not_415(http):
    answer = http.post("/health")  # no body, no Content-Type: the method is what is wrong
    assert answer.status_code == 405, answer.text
    assert answer.json()["error"]["message"] == "method POST is not allowed on /health"


def test_json_with_charset_is_fine(http):
    answer = http.post(
        "/v1/chat/completions",
        content=b'{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert answer.status_code == 200, answer.text


def test_unlisted_origin_gets_no_cors_and_no_answer(http):
    origin = {"Origin": "http://evil.example"}
    post = http.post("/v1/chat/completions", json=CHAT, headers=origin)
    assert post.status_code == 403 and "Access-Control-Allow-Origin" not in post.headers
    preflight = http.options(
        "/v1/chat/completions", headers={**origin, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 403 and "Access-Control-Allow-Origin" not in preflight.headers


def test_listed_origin_gets_cors(http):
    preflight = http.options(
        "/v1/chat/completions",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "content-type" in preflight.headers["Access-Control-Allow-Headers"].lower()
    post = http.post("/v1/chat/completions", json=CHAT, headers={"Origin": ALLOWED_ORIGIN})
    assert post.status_code == 200 and post.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


def test_same_origin_chat_page_requests_pass(http, gw):
    # The chat page's fetch sends Origin: its own origin; that is not cross-origin.
    post = http.post("/v1/chat/completions", json=CHAT, headers={"Origin": gw.url})
    assert post.status_code == 200, post.text


def test_chat_page_security_headers(http):
    page = http.get("/")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    # Only the origins trusted with the API may frame the page (an editor's webview); X-Frame-Options
    # cannot list origins, so CSP alone says it.
    assert csp.endswith(f"; frame-ancestors {ALLOWED_ORIGIN}") and "default-src 'self'" in csp
    assert "X-Frame-Options" not in page.headers
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    script = http.get("/static/app.js")
    assert script.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "cors_origins, ancestors",
    [
        ([], "'none'"),
        (["vscode-webview://*", "http://127.0.0.1:*", "https://*.example.com", "app://*"],
         "vscode-webview://* http://127.0.0.1:* https://*.example.com app://*"),
        # Entries CSP cannot say as a source frame nothing (CORS still matches them).
        (["http://local*host", "null"], "'none'"),
    ],
)
def test_frame_ancestors_follow_cors_origins(cors_origins, ancestors):
    from gateway.http_guards import security_headers

    headers = security_headers(cors_origins)
    assert headers["Content-Security-Policy"].endswith(f"; frame-ancestors {ancestors}")
    assert ("X-Frame-Options" in headers) == (ancestors == "'none'")
    if "X-Frame-Options" in headers:
        assert headers["X-Frame-Options"] == "DENY"
