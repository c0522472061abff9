"""The `vllm` settings section: engine arguments passed to vLLM, named as vLLM names them."""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from gateway.settings_section import Section


class StructuredOutputs(Section):
    """vLLM's StructuredOutputsConfig. Compact JSON by default: with whitespace allowed between
    tokens a model can emit blanks until max_tokens (vLLM's own default), and
    disable_any_whitespace needs a named backend (xgrammar: vLLM's usual pick under auto)."""

    backend: Literal["auto", "xgrammar", "guidance", "outlines", "lm-format-enforcer"] = "xgrammar"
    disable_any_whitespace: bool = True

    @model_validator(mode="after")
    def _whitespace_needs_a_backend_that_has_it(self) -> "StructuredOutputs":
        if self.disable_any_whitespace and self.backend not in ("xgrammar", "guidance"):
            raise ValueError("disable_any_whitespace needs backend xgrammar or guidance")
        return self


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
    # vLLM's tool-call parser for tool_choice "auto" (hermes, llama3_json, mistral, ...); empty:
    # detected from the model's type where known; "none": tools only with forced choice.
    # gpt-oss needs none (harmony).
    tool_call_parser: Optional[str] = None
    # vLLM's structured-outputs config (response_format and forced tool calls).
    structured_outputs: StructuredOutputs = Field(default_factory=lambda: StructuredOutputs())

    @field_validator("tensor_parallel_size")
    @classmethod
    def _positive_tp(cls, v: Union[int, str]) -> Union[int, str]:
        if isinstance(v, int) and v < 1:
            raise ValueError("must be 'auto' or an integer >= 1")
        return v
