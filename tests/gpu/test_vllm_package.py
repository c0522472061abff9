"""The vllm engine package as the registry sees it: found by module, its settings section, and on
a machine without vLLM a build that fails with one line saying what to install."""
from __future__ import annotations

import importlib.util

import pytest

from gateway.engines import vllm
from gateway.engines.vllm import preflight as vllm_preflight
from gateway.engines.registry import EngineUnavailable, engine_specs
from gateway.engines.vllm.settings import VllmSettings
from gateway.settings import load_settings

HAS_VLLM = importlib.util.find_spec("vllm") is not None


def test_registry_finds_the_package():
    spec = engine_specs()["vllm"]
    assert spec is vllm.ENGINE
    assert spec.settings is VllmSettings


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed here")
def test_build_without_vllm_is_unavailable_with_one_line():
    s = load_settings(None, {"engine": "vllm", "model": {"path": "/models/demo-8b"}}, environ={})
    with pytest.raises(EngineUnavailable) as err:
        vllm.ENGINE.build(s)
    assert "\n" not in str(err.value) and vllm_preflight.INSTALL_HINT in str(err.value)
    ok, line = vllm.ENGINE.doctor(s)[0]
    assert not ok and line == str(err.value)
