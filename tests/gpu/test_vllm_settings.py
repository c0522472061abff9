"""The `vllm` settings section: vLLM's own argument names, and a bad value names its key (exit 2
in the CLI); these run on any machine."""
from __future__ import annotations

import pytest

from gateway.engines.vllm.settings import VllmSettings
from gateway.settings import ConfigError, load_settings


def test_defaults_are_the_documented_ones():
    s = load_settings(None, {"engine": "vllm"}, environ={}).vllm
    assert isinstance(s, VllmSettings)
    assert s.tensor_parallel_size == "auto" and s.gpu_memory_utilization == 0.92 and s.max_num_seqs == 128
    assert s.enable_prefix_caching is True and s.engine_args == {}


def test_values_from_yaml_env_and_engine_args():
    s = load_settings(None, {"vllm": {"tensor_parallel_size": 2, "engine_args": {"max_num_batched_tokens": 8192}}},
                      environ={"OSS_SIDECAR_VLLM__DISTRIBUTED_EXECUTOR_BACKEND": "ray"}).vllm
    assert s.tensor_parallel_size == 2 and s.distributed_executor_backend == "ray"
    assert s.engine_args == {"max_num_batched_tokens": 8192}


@pytest.mark.parametrize("key, value", [
    ("tensor_parallel_size", 0), ("tensor_parallel_size", "two"), ("gpu_memory_utilization", 1.5),
    ("max_num_seqs", 0), ("max_model_len", 8), ("distributed_executor_backend", "spark"),
    ("tensor_paralel_size", 2),
])
def test_bad_value_names_the_key(key, value):
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"vllm": {key: value}}, environ={})
    assert f"vllm.{key}" in str(info.value)  # after the source it came from ("the command line: ...")


def test_compact_json_needs_a_backend_that_has_it():
    s = load_settings(None, {"vllm": {"structured_outputs": {"backend": "guidance"}}}, environ={}).vllm
    assert s.structured_outputs.disable_any_whitespace is True
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"vllm": {"structured_outputs": {"backend": "auto"}}}, environ={})
    assert str(info.value).startswith("vllm.structured_outputs") and "xgrammar or guidance" in str(info.value)
    off = load_settings(None, {"vllm": {"structured_outputs": {"backend": "auto", "disable_any_whitespace": False}}},
                        environ={}).vllm
    assert off.structured_outputs.backend == "auto"
