"""Property-based fuzzing of the real gateway from its own /openapi.json (schemathesis).

Every operation of every wire format (OpenAI, the Responses API, Anthropic's Messages API,
Ollama, the operator endpoints) gets a bounded number of generated requests, valid and
invalid; no answer may be a 5xx, and every answer must have a documented status and content
type and match its schema (each API's own error shape included). Generation is kept short (at
most 2 tokens each: the model's speed is not under test). The run is seeded
(`derandomize`), so it is the same subset each time; OSS_SIDECAR_TEST_FUZZ_EXAMPLES sets the
examples per operation (default 8). bench/fuzz_openapi.py runs the long version (10,000+).
"""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fuzz_limits import shortened
from gateway.api import knowledge, openapi, ops
from gateway.app import WIRE_FORMATS

EXAMPLES = int(os.environ.get("OSS_SIDECAR_TEST_FUZZ_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed(start_gateway):
    return start_gateway(env={"OSS_SIDECAR_MODEL__DEFAULT_MAX_TOKENS": "2"})


@pytest.fixture(scope="module")
def api_schema(fuzzed):
    loaded = schemathesis.openapi.from_url(fuzzed.url + "/openapi.json")
    # Examples and random fuzzing; the coverage phase (every boundary of every field, a few
    # hundred generations) is left out for time: tests/security/test_input_limits.py checks
    # the boundaries that matter one by one.
    loaded.config.phases.update(phases=["examples", "fuzzing"])
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_answers_match_the_schema(case, fuzzed):
    case.body = shortened(case.body)
    # A generous read timeout: a shared CI machine can be slow, and slowness is not under test.
    case.call_and_validate(base_url=fuzzed.url, checks=CHECKS, timeout=120)


def _served_routes() -> set[tuple[str, str]]:
    """(method, path) of every route the app registers, path parameters without their regex."""
    tables = [wire.routes for wire in WIRE_FORMATS] + [ops.routes, knowledge.routes, openapi.routes]
    served = set()
    for table in tables:
        for route in table:
            path = route.path.replace("{model_id:.+}", "{model_id}")
            served.add((route.method.lower(), path))
    return served


def test_openapi_document_describes_every_route(fuzzed):
    import httpx

    paths = httpx.get(fuzzed.url + "/openapi.json").json()["paths"]
    described = {(method, path) for path, item in paths.items() for method in item if method != "parameters"}
    assert _served_routes() - described == set()
