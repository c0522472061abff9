"""Record and replay of a wire's exact bytes, shared by the golden tests
(tests/gateway/api/*/test_*wire_golden.py): each names its cases and what to mask (ids,
timestamps, prompt-cache hits), and compares one exchange a case with its recording.

Greedy decoding on one gateway that serves one request at a time keeps the text stable.
Re-record on purpose only: GOLDEN_RECORD=1 python3 -m pytest <the test file>
"""
from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from typing import Callable

import pytest

MODEL = "SmolLM2-135M-Instruct.Q4_1"


@pytest.fixture(scope="module")
def serial_gateway(start_gateway):
    """One gateway per golden module, serving one request at a time. Context 1024 per slot makes
    the too-long cases short to send. The first recordings predate the embedding model, which
    /v1/models would list beside the chat model: it is off here."""
    return start_gateway("--max-concurrency", "1", env={"OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT": "1024",
                                                        "OSS_SIDECAR_LLAMACPP__N_PARALLEL": "1",
                                                        "OSS_SIDECAR_EMBEDDINGS__ENABLED": "false"})


def exchange(port: int, case: tuple[str, str, object], mask: Callable[[bytes], bytes],
             headers: dict | None = None) -> bytes:
    """The status line, content type and masked body of one (method, path, body) case; a str body
    goes as it is (for invalid JSON), anything else as JSON."""
    method, path, body = case
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    payload = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
    conn.request(method, path, body=payload, headers={"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    head = f"{resp.status} {resp.getheader('Content-Type')}\n".encode()
    return head + mask(data)


def assert_matches_recording(got: bytes, golden: Path, mask: Callable[[bytes], bytes]) -> None:
    """With GOLDEN_RECORD=1, (re)records `got` first."""
    if os.environ.get("GOLDEN_RECORD") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(got)
    assert got == mask(golden.read_bytes())
