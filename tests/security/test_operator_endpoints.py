"""Operator endpoints behave like the API: with keys set, /metrics and /v1/stats need one
(server.metrics_require_key: false opens /metrics to a scraper), and an upstream URL's
user:password never reaches a metric label, /v1/stats, an error message or a log line — while
the upstream still gets them. The upstream is a test double on loopback
(tests/misbehaving_upstream.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from misbehaving_upstream import MODEL, MisbehavingUpstream

KEY = "operator-test-key"
PASSWORD = "pa55-in-the-url"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def upstream():
    with MisbehavingUpstream(user="gateway", password=PASSWORD) as server:
        yield server


def _config(tmp_path_factory, upstream) -> Path:
    config = Path(tmp_path_factory.mktemp("operator")) / "gateway.yaml"
    config.write_text(
        f"engine: upstream\nupstream:\n  servers: [{upstream.url(with_credentials=True)}]\n"
        "embeddings:\n  enabled: false\n"
    )
    return config


@pytest.fixture(scope="module")
def keyed(start_gateway, upstream, tmp_path_factory):
    return start_gateway("--config", str(_config(tmp_path_factory, upstream)), "--api-key", KEY)


@pytest.fixture(scope="module")
def open_metrics(start_gateway, upstream, tmp_path_factory):
    return start_gateway(
        "--config", str(_config(tmp_path_factory, upstream)), "--api-key", KEY,
        env={"OSS_SIDECAR_SERVER__METRICS_REQUIRE_KEY": "false"},
    )


def _get(gw, path: str, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(gw.url + path, headers=headers, timeout=30)


@pytest.mark.parametrize("path", ["/metrics", "/v1/stats"])
def test_operator_endpoints_need_the_key(keyed, path):
    for key in (None, "wrong"):
        answer = _get(keyed, path, key)
        assert answer.status_code == 401, (path, key, answer.text)
        assert answer.json()["error"]["code"] == "invalid_api_key"
    assert _get(keyed, path, KEY).status_code == 200
    assert _get(keyed, "/health").status_code == 200  # probes stay open


def test_metrics_can_be_opened_to_a_scraper(open_metrics):
    assert _get(open_metrics, "/metrics").status_code == 200
    assert _get(open_metrics, "/v1/stats").status_code == 401  # the rest stays keyed


def test_upstream_credentials_reach_the_upstream_and_nothing_else(keyed, upstream):
    answer = httpx.post(
        keyed.base_url + "/chat/completions", timeout=60, headers={"Authorization": f"Bearer {KEY}"},
        json={"model": MODEL, "messages": [{"role": "user", "content": "broken"}]},
    )
    assert answer.status_code == 502 and "127.0.0.1" in answer.text
    assert any(a and a.startswith("Basic ") for a in upstream.authorizations), upstream.authorizations
    metrics = _get(keyed, "/metrics", KEY).text
    assert f'server="http://127.0.0.1:{upstream.port}"' in metrics
    stats = _get(keyed, "/v1/stats", KEY).text
    log = keyed.log_path.read_text(errors="replace")
    assert f"127.0.0.1:{upstream.port}" in log
    for where, text in (("error", answer.text), ("/metrics", metrics), ("/v1/stats", stats), ("log", log)):
        assert PASSWORD not in text, where


def test_a_config_error_does_not_print_the_password(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(f"engine: upstream\nupstream:\n  servers: [ftp://gateway:{PASSWORD}@127.0.0.1:1]\n")
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "upstream.servers" in done.stderr and PASSWORD not in done.stderr, done.stderr
