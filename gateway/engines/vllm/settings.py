"""The `vllm` settings section: engine arguments passed to vLLM, named as vLLM names them."""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import Field, field_validator

from gateway.settings_section import Section


class VllmSettings(Section):
    """Engine arguments passed to vLLM, named as vLLM names them."""

    tensor_parallel_size: Union[int, Literal["auto"]] = "auto"
    gpu_memory_utilization: float = Field(0.92, gt=0, le=1)
    max_num_seqs: int = Field(128, ge=1)
    max_model_len: Optional[int] = Field(None, ge=16)
    dtype: str = "auto"
    quantization: Optional[str] = None
    kv_cache_dtype: str = "auto"
    # On: editors resend the same file prefix again and again.
    enable_prefix_caching: bool = True
    enforce_eager: bool = False
    load_format: str = "auto"
    # "ray" for more than one machine; default: vLLM's choice (multiprocessing on one host).
    distributed_executor_backend: Optional[Literal["mp", "ray", "uni", "external_launcher"]] = None
    # Any other AsyncEngineArgs field, passed through as-is.
    engine_args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("tensor_parallel_size")
    @classmethod
    def _positive_tp(cls, v: Union[int, str]) -> Union[int, str]:
        if isinstance(v, int) and v < 1:
            raise ValueError("must be 'auto' or an integer >= 1")
        return v
