"""Client input that was a 500 is a 4xx in its API's own error body, fixed where it arose: an
integer literal past Python's 4,300 digits, JSON Schemas with references outside the schema
(never fetched), dangling or to the whole schema, integer bounds past 64 bits, histories no
engine can continue, an assistant tool call without JSON arguments, Ollama options past 64
bits, and a gzip body that is not gzip. Sent through the real clients (the openai SDK, the
ollama package) where they can send it, raw bytes where only a hand-made client would."""
from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import ollama
import openai
import pytest
from openai import OpenAI

MODEL = "SmolLM2-135M-Instruct.Q4_1"
USER = [{"role": "user", "content": "hi"}]
POST_ROUTES = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/api/chat", "/api/generate",
               "/api/embed", "/api/embeddings", "/api/show"]


@pytest.fixture(scope="module")
def client(gateway):
    return OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def ollama_client(gateway):
    return ollama.Client(host=gateway.url)


@pytest.fixture(scope="module")
def http(gateway):
    with httpx.Client(base_url=gateway.url, timeout=120) as c:
        yield c


def _openai_error(call) -> dict:
    with pytest.raises(openai.BadRequestError) as info:
        call()
    return info.value.body


def _ollama_error(call) -> ollama.ResponseError:
    with pytest.raises(ollama.ResponseError) as info:
        call()
    assert info.value.status_code == 400, info.value
    return info.value


@pytest.fixture(scope="module")
def fetch_log():
    """A loopback server that records any request: a schema reference must never reach it."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"type": "string"}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


@pytest.mark.parametrize("route", POST_ROUTES)
def test_an_integer_past_4300_digits_is_400_on_every_post_route(http, route):
    raw = b'{"model": "' + MODEL.encode() + b'", "n": ' + b"7" * 5000 + b"}"
    answer = http.post(route, content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    message = answer.json()["error"]
    message = message["message"] if isinstance(message, dict) else message
    assert "more than 4300 digits" in message


def _schema_refs(server_url: str) -> list[tuple[dict, str]]:
    return [
        ({"type": "object", "properties": {"next": {"$ref": "#"}}}, '$ref "#"'),
        ({"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}, "resolves to nothing"),
        ({"type": "object", "properties": {"a": {"$ref": server_url + "/schema.json"}}}, "nothing is fetched"),
        ({"type": "object", "properties": {"a": {"$ref": "file:///etc/passwd"}}}, "nothing is fetched"),
        ({"type": "object", "properties": {"a": {"type": "integer", "maximum": 1e30}}}, "64-bit"),
        ({"type": "object", "properties": {"a": {"type": "integer", "minimum": -1e30}}}, "64-bit"),
    ]


def test_unusable_schemas_are_400_naming_the_field_in_each_api(client, ollama_client, fetch_log):
    url, seen = fetch_log
    for schema, why in _schema_refs(url):
        body = _openai_error(lambda: client.chat.completions.create(
            model=MODEL, messages=USER, max_tokens=2,
            response_format={"type": "json_schema", "json_schema": {"name": "o", "schema": schema}}))
        assert body["param"] == "response_format.json_schema.schema" and why in body["message"], body
        body = _openai_error(lambda: client.chat.completions.create(
            model=MODEL, messages=USER, max_tokens=2,
            tools=[{"type": "function", "function": {"name": "f", "parameters": schema}}]))
        assert body["param"] == "tools[0].function.parameters" and why in body["message"], body
        error = _ollama_error(lambda: ollama_client.chat(model=MODEL, messages=USER, format=schema,
                                                          options={"num_predict": 2}))
        assert error.error.startswith("format: ") and why in error.error, error.error
    assert seen == [], "a schema reference was fetched"


def test_a_schema_inside_the_server_budget_with_local_references_is_served(client):
    schema = {"$defs": {"name": {"type": "string", "maxLength": 8}},
              "type": "object", "properties": {"a": {"$ref": "#/$defs/name"}}, "required": ["a"]}
    answer = client.chat.completions.create(
        model=MODEL, messages=USER, max_tokens=12, temperature=0,  # sampled, a run may spend 12 tokens on whitespace first
        response_format={"type": "json_schema", "json_schema": {"name": "o", "schema": schema}})
    assert answer.choices[0].message.content.lstrip().startswith("{")


CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


@pytest.mark.parametrize(
    "messages, param",
    [
        (USER + [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}], "messages[2]"),
        (USER + [{"role": "assistant", "content": None, "tool_calls": [CALL]}], "messages[1].tool_calls"),
        (USER + [{"role": "assistant", "content": None,
                  "tool_calls": [{**CALL, "function": {"name": "f", "arguments": "[1]"}}]},
                 {"role": "tool", "tool_call_id": "call_1", "content": "done"}],
         "messages[1].tool_calls[0].function.arguments"),
    ],
)
def test_histories_no_engine_can_continue_are_400_naming_the_message(client, messages, param):
    body = _openai_error(lambda: client.chat.completions.create(model=MODEL, messages=messages, max_tokens=2))
    assert body["param"] == param, body


def test_ollama_histories_follow_the_same_rules(ollama_client):
    error = _ollama_error(lambda: ollama_client.chat(
        model=MODEL, messages=USER + [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]))
    assert "more than one assistant message" in error.error
    call = {"function": {"name": "f", "arguments": {}}}
    error = _ollama_error(lambda: ollama_client.chat(
        model=MODEL, messages=USER + [{"role": "assistant", "content": "", "tool_calls": [call]}]))
    assert error.error.startswith("messages[1].tool_calls:")


@pytest.mark.parametrize("options", [{"seed": 2**70}, {"num_predict": 1e300}, {"top_k": 2**70}])
@pytest.mark.parametrize("endpoint", ["chat", "generate"])
def test_ollama_options_past_64_bits_are_400_naming_the_option(ollama_client, options, endpoint):
    name = next(iter(options))
    if endpoint == "chat":
        error = _ollama_error(lambda: ollama_client.chat(model=MODEL, messages=USER, options=options))
    else:
        error = _ollama_error(lambda: ollama_client.generate(model=MODEL, prompt="hi", options=options))
    assert error.error == f'option "{name}" must be a 64-bit integer'


@pytest.mark.parametrize("route", ["/v1/chat/completions", "/api/chat"])
def test_a_body_that_is_not_the_gzip_it_claims_is_400(gateway, http, route):
    logged = gateway.log_path.stat().st_size
    answer = http.post(route, content=b"plain text, not gzip",
                       headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert "could not be read" in (error["message"] if isinstance(error, dict) else error)
    assert http.get("/health").status_code == 200  # the server has moved on to another request
    gateway.log()  # flushes
    with open(gateway.log_path, "rb") as log:
        log.seek(logged)
        assert b"Traceback" not in log.read(), "a client's bad body was logged as a server error"


def test_a_real_gzip_body_is_served(http):
    body = b'{"model": "%s", "prompt": "a", "max_tokens": 1}' % MODEL.encode()
    answer = http.post("/v1/completions", content=gzip.compress(body),
                       headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert answer.status_code == 200, answer.text
