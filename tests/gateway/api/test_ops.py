"""Operator endpoints and the API-key door: /health, /metrics, Bearer keys."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import openai
import pytest


def test_health_goes_from_loading_to_ready(start_gateway):
    gw = start_gateway(wait=False)
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "ready" not in seen:
        try:
            with urllib.request.urlopen(gw.url + "/health", timeout=0.5) as resp:
                seen.append(json.loads(resp.read())["status"])
        except urllib.error.HTTPError as exc:
            assert exc.code == 503
            seen.append(json.loads(exc.read())["status"])
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet, or busy: llama.cpp holds the GIL while it loads
        time.sleep(0.01)
    assert seen[-1] == "ready"
    assert set(seen) <= {"loading", "ready"}
    assert seen[0] == "loading", f"expected to observe the loading state first: {seen[:3]}"


def test_metrics_are_prometheus_text(gateway):
    text = gateway.metrics_text()
    assert "# TYPE oss_sidecar_requests_running gauge" in text
    assert "oss_sidecar_device_memory_used_bytes" in text
    assert "oss_sidecar_ready 1.0" in text


async def test_api_key_required_when_configured(start_gateway):
    gw = start_gateway("--api-key", "s3cret")
    with pytest.raises(openai.AuthenticationError) as info:
        await openai.AsyncOpenAI(base_url=gw.base_url, api_key="wrong", max_retries=0).models.list()
    assert info.value.body["code"] == "invalid_api_key"
    models = await openai.AsyncOpenAI(base_url=gw.base_url, api_key="s3cret", max_retries=0).models.list()
    assert models.data
    with urllib.request.urlopen(gw.url + "/health") as resp:  # health stays open for probes
        assert resp.status == 200
