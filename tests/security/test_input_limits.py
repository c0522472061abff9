"""No client input gets a 500: every reproducer of the probe, through real clients.

Lone surrogates (half an emoji in an editor buffer) are replaced by U+FFFD and the request
served; nesting is limited before parsing; every number is ranged in the schema; header-level
errors carry the JSON error body; an empty API key is a config error.
"""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import httpx
import openai
import pytest
from openai import OpenAI

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client(gateway):
    return OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def http(gateway):
    with httpx.Client(base_url=gateway.url, timeout=60) as c:
        yield c


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi \ud800"}], "stop": ["\udc00"]}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "text", "text": "\udfff"}]}]}),
        ("/v1/completions", {"prompt": "x = '\ud83d", "suffix": "'\udc00\n"}),
        ("/v1/completions", {"prompt": ["a\ud800", "b"]}),
    ],
)
async def test_lone_surrogates_are_replaced_not_500(gateway, path, body):
    # aiohttp's json= (like Python's json and JavaScript's JSON.stringify) sends a lone
    # surrogate as a \u escape; the OpenAI SDK cannot encode one at all.
    async with aiohttp.ClientSession() as session:
        async with session.post(gateway.url + path, json={**body, "max_tokens": 2}) as answer:
            assert answer.status == 200, await answer.text()
            data = await answer.json()
    assert all(c["finish_reason"] in ("stop", "length") for c in data["choices"])


def test_paired_surrogates_stay_one_character(http):
    # "\ud83d\ude00" is one emoji, escaped as JSON allows: it must reach the model intact
    # (echo returns the prompt as the model saw it).
    raw = b'{"prompt":"smile \\ud83d\\ude00","max_tokens":1,"echo":true}'
    answer = http.post("/v1/completions", content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["text"].startswith("smile \U0001F600")


@pytest.mark.parametrize("depth", [65, 50_000])
def test_deep_nesting_is_400_before_parsing(http, depth):
    raw = b'{"prompt":' + b"[" * depth + b"]" * depth + b"}"
    answer = http.post("/v1/completions", content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert "server.max_json_depth" in answer.json()["error"]["message"]


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"1e999"])
def test_non_finite_numbers_are_400(http, number):
    raw = b'{"prompt":"x","temperature":' + number + b"}"
    answer = http.post("/v1/completions", content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_tokens", 2**31),
        ("max_tokens", 2**63),
        ("max_completion_tokens", 2**31),
        ("top_k", 2**31),
        ("truncate_prompt_tokens", 2**31),
        ("seed", 2**64),
        ("n", 10**6),
    ],
)
def test_out_of_range_numbers_are_400_naming_the_field(client, field, value):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "hi"}], extra_body={field: value}
        )
    assert info.value.body["param"] == field, info.value.body


def test_edge_numbers_are_served(client):
    model = client.models.list().data[0].id
    for seed in (2**64 - 1, -(2**63)):
        answer = client.completions.create(model=model, prompt="a", max_tokens=1, seed=seed)
        assert answer.choices[0].finish_reason == "length"


def test_fan_out_past_the_sequence_limit_is_400_naming_n(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(
            model=client.models.list().data[0].id, prompt=list("abcdefgh"), n=16, max_tokens=1, stream=True
        )
    assert info.value.body["param"] == "n"
    assert "admission.max_sequences_per_request" in info.value.body["message"]


def _raw(gateway, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n",
        b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n",
        b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -4\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",  # TLS spoken to the HTTP port
    ],
)
def test_header_level_400s_have_the_json_error_body(gateway, request_bytes):
    answer = _raw(gateway, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split()[1] == b"400", answer[:300]
    assert b"application/json" in head
    error = httpx.Response(400, content=body).json()["error"]
    assert error["code"] == "bad_http_request" and error["message"]


def test_empty_api_key_exits_2():
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--api-key", "", "--port", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "server.api_keys" in lines[0], done.stderr


@pytest.mark.parametrize("field, value", [("normalize", False), ("pooling", "cls"), ("input_type", "query")])
def test_embeddings_refuse_fields_that_would_change_the_vectors(http, field, value):
    answer = http.post("/v1/embeddings", json={"input": "x", field: value})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == field and "unknown field" in error["message"]
    assert http.post("/v1/embeddings", json={"input": "x", "user": "u-1"}).status_code == 200  # ignored: metadata
