"""Embeddings on llama.cpp in-process (xllamacpp, the chat engine's runtime too) in its
embedding mode: non-causal BERT-style encoders with the pooling their GGUF declares.

`Server.handle_embeddings(body)` blocks while it computes, so each call runs in a worker
thread; it takes token arrays as given. The Server's loopback listener serves /tokenize,
which gives the model's own tokenization (llama.cpp's WordPiece for BERT models).
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import aiohttp

from gateway.embeddings import default_model
from gateway.embeddings.base import EmbeddingInputError, EmbeddingModel, EmbeddingStats
from gateway.engines.base import EngineError, ModelMetadata, ProgressCallback
from gateway.engines.default_model import ModelFileError
from gateway.engines.gguf_header import GGUFArray, GGUFHeaderError, read_metadata
from gateway.engines.gguf_metadata import MetadataOnce
from gateway.engines.llamacpp.listener import BASE_URL, PrivateListener

if TYPE_CHECKING:
    from gateway.embeddings.settings import EmbeddingsSettings

log = logging.getLogger(__name__)


def _gguf_facts(path: Path) -> dict[str, int]:
    """Context length, width and vocabulary size from the GGUF's header (gguf_header: without
    numpy and without keeping the vocabulary, which gguf's GGUFReader would, tens of MiB)."""
    try:
        found = read_metadata(path)
    except (GGUFHeaderError, OSError) as exc:
        raise ModelFileError(f"cannot read the embedding model {path}: {exc}") from None
    arch = found.get("general.architecture")

    def value(key: str) -> int:
        field = found.get(key)
        if not isinstance(field, int):
            raise ModelFileError(f"{path} has no {key}: is it an embedding model?")
        return field

    tokens = found.get("tokenizer.ggml.tokens")
    if not isinstance(tokens, GGUFArray):
        raise ModelFileError(f"{path} has no tokenizer.ggml.tokens: is it an embedding model?")
    return {
        "context_length": value(f"{arch}.context_length"),
        "dimensions": value(f"{arch}.embedding_length"),
        "vocab_size": tokens.length,
    }


class LlamaCppEmbeddings(EmbeddingModel):
    runtime = "llamacpp"

    def __init__(self, cfg: "EmbeddingsSettings"):
        self._cfg = cfg
        self.model_path: Optional[Path] = Path(cfg.model).expanduser() if cfg.model else None
        self.model_name = cfg.served_model_name or (
            self.model_path.name.removesuffix(".gguf") if self.model_path else default_model.NAME
        )
        self.dimensions = 0
        self.max_input_tokens = 0
        self.prefix_tokens: list[int] = []
        self.suffix_tokens: list[int] = []
        self.vocab_size = 0
        self._server: Any = None
        self._listener = PrivateListener()
        self._session: Optional[aiohttp.ClientSession] = None
        self._path: Optional[Path] = None
        self._metadata = MetadataOnce()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embeddings")

    def check_model(self) -> None:
        if self.model_path is not None:
            if not self.model_path.is_file():
                raise ModelFileError(f"embeddings.model: no such file: {self.model_path}")
        else:
            default_model.archive_path()

    async def start(self, progress: Optional[ProgressCallback] = None) -> None:
        report = progress or (lambda message, fraction: None)
        loop = asyncio.get_running_loop()
        path = self.model_path
        if path is None:
            path = default_model.gguf_path(self._cfg.cache_dir)
            if not path.is_file():
                report(f"converting {default_model.NAME} to GGUF under {path.parent}", 0.1)
                await loop.run_in_executor(self._pool, self._export_default, path)
        facts = await loop.run_in_executor(self._pool, _gguf_facts, path)
        self.dimensions, self.vocab_size = facts["dimensions"], facts["vocab_size"]
        window = self._cfg.max_input_tokens or (
            default_model.MAX_INPUT_TOKENS if self.model_path is None else facts["context_length"]
        )
        if window > facts["context_length"]:
            raise ModelFileError(
                f"embeddings.max_input_tokens: {window} is beyond the model's context of {facts['context_length']} tokens"
            )
        self.max_input_tokens = window
        report(f"loading the embedding model {path.name}", 0.5)
        self._server = await loop.run_in_executor(self._pool, self._load, path)
        with_special = (await self._tokenize_one("a", special=True))
        bare = await self._tokenize_one("a", special=False)
        at = next(i for i in range(len(with_special)) if with_special[i : i + len(bare)] == bare)
        self.prefix_tokens, self.suffix_tokens = with_special[:at], with_special[at + len(bare) :]
        self._path = path
        log.info("embedding model %s ready (%d dimensions, inputs up to %d tokens)", self.model_name,
                 self.dimensions, self.max_input_tokens)

    async def model_metadata(self) -> Optional[ModelMetadata]:
        return await self._metadata.get(self._path)

    def _export_default(self, target: Path) -> None:
        from gateway.embeddings.gguf_export import export_bert

        files = default_model.read_archive(default_model.archive_path(), verify=self._cfg.verify_model)
        export_bert(files, default_model.NAME, target)

    def _load(self, path: Path) -> Any:
        import xllamacpp as xl

        params = xl.CommonParams()
        params.model.path = str(path)
        params.embedding = True
        params.n_parallel = self._cfg.batch_size
        params.n_ctx = self.max_input_tokens * self._cfg.batch_size
        # A non-causal encoder sees a whole input in one micro-batch.
        params.n_batch = params.n_ubatch = params.n_ctx
        params.verbosity = -1
        self._listener.configure(params)  # its tokenizer listener: private, behind a key
        if self._cfg.n_threads:
            params.cpuparams.n_threads = self._cfg.n_threads
            params.cpuparams_batch.n_threads = self._cfg.n_threads
        try:
            return xl.Server(params)
        except Exception as exc:  # llama.cpp reports a bad GGUF as a generic runtime error
            raise ModelFileError(f"cannot load the embedding model {path}: {exc}") from None

    async def _tokenize_one(self, text: str, special: bool = True) -> list[int]:
        if self._session is None:
            self._session = self._listener.session()
        async with self._session.post(
            BASE_URL + "/tokenize", json={"content": text, "add_special": special}
        ) as resp:
            resp.raise_for_status()
            return (await resp.json())["tokens"]

    async def tokenize(self, texts: list[str]) -> list[list[int]]:
        limit = asyncio.Semaphore(8)

        async def one(text: str) -> list[int]:
            async with limit:
                return await self._tokenize_one(text)

        return list(await asyncio.gather(*(one(t) for t in texts)))

    async def embed(self, inputs: list[list[int]]) -> list[list[float]]:
        if self._server is None:
            raise EngineError("the embedding model is not loaded")
        loop = asyncio.get_running_loop()
        out: list[list[float]] = []
        size = self._cfg.batch_size
        for start in range(0, len(inputs), size):
            batch = inputs[start : start + size]
            answer = await loop.run_in_executor(self._pool, self._server.handle_embeddings, {"input": batch})
            if "error" in answer:
                error = answer["error"]
                if error.get("code") == 400:
                    raise EmbeddingInputError(error.get("message", "the embedding model refused an input"))
                raise EngineError(f"embedding failed: {error.get('message')}")
            out.extend(item["embedding"] for item in sorted(answer["data"], key=lambda d: d["index"]))
        return out

    def stats(self) -> EmbeddingStats:
        devices = []
        path = getattr(self, "_path", None)
        if path is not None:
            size = path.stat().st_size
            devices.append({"name": "cpu", "used_bytes": size, "total_bytes": size})
        return EmbeddingStats(runtime=self.runtime, model=self.model_name, devices=devices)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._server = None
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._listener.remove()

