"""What the vllm engine reports in stats: vLLM's own stat objects feed the counters through the
stat-logger class (needs vLLM, no GPU), and GPU memory is read through NVML (per visible GPU
where there is one, nothing and no error where there is none)."""
from __future__ import annotations

import shutil

import pytest

from gateway.engines.vllm.stats import GpuMemory, StatsState, make_stat_logger_factory

from .conftest import gpu_count


def test_stat_logger_feeds_the_counters_from_vllm_stats():
    pytest.importorskip("vllm", reason="vLLM is not installed (pip install '.[vllm]')")
    from vllm.v1.engine import FinishReason
    from vllm.v1.metrics.loggers import StatLoggerBase
    from vllm.v1.metrics.stats import (
        FinishedRequestStats, IterationStats, PrefixCacheStats, SchedulerStats,
    )

    state = StatsState()
    logger_class = make_stat_logger_factory(state)
    assert issubclass(logger_class, StatLoggerBase)
    stat_logger = logger_class(None, engine_index=0)

    scheduler = SchedulerStats(num_running_reqs=3, num_waiting_reqs=2, kv_cache_usage=0.25,
                               prefix_cache_stats=PrefixCacheStats(queries=100, hits=40))
    iteration = IterationStats()
    iteration.num_generation_tokens = 7
    iteration.prompt_token_stats.total = 120
    iteration.num_preempted_reqs = 1
    iteration.finished_requests = [FinishedRequestStats(finish_reason=FinishReason.STOP),
                                   FinishedRequestStats(finish_reason=FinishReason.LENGTH),
                                   FinishedRequestStats(finish_reason=FinishReason.LENGTH)]
    stat_logger.record(scheduler, iteration)
    stat_logger.record(None, iteration)  # a step with no scheduler report keeps the last one

    assert (state.running, state.waiting, state.kv_cache_usage) == (3, 2, 0.25)
    c = state.counters
    assert c["prefix_cache_queries_total"] == 100 and c["prefix_cache_hits_total"] == 40
    assert c["generation_tokens_total"] == 14 and c["prompt_tokens_total"] == 240
    assert c["num_preemptions_total"] == 2
    assert c["request_finished_stop_total"] == 2 and c["request_finished_length_total"] == 4
    assert c["request_success_total"] == 6


def test_stats_start_empty():
    state = StatsState()
    state.record(None, None)
    assert (state.running, state.waiting, state.kv_cache_usage) == (0, 0, None)
    assert set(state.counters.values()) == {0}


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="an NVIDIA driver is here")
def test_gpu_memory_without_nvml_reads_nothing():
    memory = GpuMemory()
    assert memory.read() == [] and memory.read() == []


@pytest.mark.gpu
def test_gpu_memory_per_visible_gpu():
    devices = GpuMemory().read()
    assert len(devices) == gpu_count()
    for i, d in enumerate(devices):
        assert d["name"].startswith(f"cuda:{i} ")
        assert 0 < d["used_bytes"] <= d["total_bytes"]
