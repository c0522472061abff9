"""Retrieval benchmark: index a real ~100,000-character corpus, then measure recall@4,
retrieval latency, time to the first answer token, and embedding throughput beside the
model's reference runtime (sentence-transformers), all in one run on this machine.

Corpus: the Playwright agent-skill docs inside the installed `playwright` package (a dev
dependency); questions in bench/rag_questions.py. Run by hand, not in CI:

    python bench/rag_benchmark.py [--threads 1] [--ttft-questions 10]

Prints a Markdown table for docs/BENCHMARKS.md. Numbers on a shared machine are noisy; say
what else ran.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from rag_questions import QUESTIONS  # noqa: E402

from gateway.embeddings import create_embedding_model  # noqa: E402
from gateway.knowledge.indexer import index_paths  # noqa: E402
from gateway.knowledge.retrieval import Knowledge  # noqa: E402
from gateway.knowledge.store import KnowledgeStore  # noqa: E402
from gateway.serving.embeddings import EmbeddingRequest, Embeddings  # noqa: E402
from gateway.settings import load_settings  # noqa: E402
from gateway.telemetry import Metrics  # noqa: E402


def corpus_dir() -> Path:
    import playwright

    return Path(playwright.__file__).parent / "driver" / "package" / "lib" / "tools" / "skills"


def p50(values: list[float]) -> float:
    return statistics.median(values)


async def measure_index_and_retrieval(settings, data_dir: Path, top_k: int) -> dict:
    model = create_embedding_model(settings.embeddings)
    await model.start()
    embeddings = Embeddings(settings, model, Metrics())
    embeddings.status = "ready"
    store = KnowledgeStore(data_dir)

    async def embed(texts: list[str]) -> list[list[float]]:
        req = EmbeddingRequest(inputs=texts, truncate_prompt_tokens=model.max_input_tokens)
        return (await embeddings.embed(req)).vectors

    report = await index_paths(
        [corpus_dir()], "bench", store, embed, settings=settings.knowledge, embedding_model=model.model_name,
    )
    knowledge = Knowledge(store, embeddings, settings.knowledge.max_top_k)
    await knowledge.retrieve("bench", "warm up", top_k)
    hits, latencies = 0, []
    for question, phrase in QUESTIONS:
        t0 = time.perf_counter()
        sources = await knowledge.retrieve("bench", question, top_k)
        latencies.append((time.perf_counter() - t0) * 1000)
        hits += any(phrase in s.text for s in sources)
    chunks = [t for t in store.collection("bench").get(include=["documents"])["documents"]]
    # Throughput on the corpus's own chunks (the same texts for both runtimes).
    t0 = time.perf_counter()
    await embed(chunks)
    ours = len(chunks) / (time.perf_counter() - t0)
    await model.stop()
    return {
        "chunks": report.chunks_written, "index_s": report.seconds, "recall": hits / len(QUESTIONS),
        "retrieval_p50_ms": p50(latencies), "ours_texts_per_s": ours, "texts": chunks,
    }


def reference_throughput(texts: list[str], threads: int) -> "float | None":
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    import zipfile

    from gateway.embeddings.default_model import archive_path

    torch.set_num_threads(threads)
    folder = Path(tempfile.mkdtemp(prefix="minilm-"))
    with zipfile.ZipFile(archive_path()) as archive:
        archive.extractall(folder)
    model = SentenceTransformer(str(folder), device="cpu")
    model.encode(texts[:8])
    t0 = time.perf_counter()
    model.encode(texts, batch_size=8)
    return len(texts) / (time.perf_counter() - t0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_ttft(data_dir: Path, questions: int, top_k: int) -> list[float]:
    port = free_port()
    env = {**os.environ, "OSS_SIDECAR_KNOWLEDGE__DATA_DIR": str(data_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        out = []
        for question, _ in QUESTIONS[:questions]:
            body = {"messages": [{"role": "user", "content": question}], "max_tokens": 16, "stream": True,
                    "retrieval": {"collection": "bench", "top_k": top_k}}
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
            t0 = time.perf_counter()
            with urllib.request.urlopen(req, timeout=120) as resp:
                for line in resp:
                    if line.startswith(b"data: {") and b'"content":"' in line and b'"content":""' not in line:
                        out.append((time.perf_counter() - t0) * 1000)
                        break
                resp.read()
        return out
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description="retrieval benchmark")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of both embedding runtimes")
    parser.add_argument("--top-k", type=int, default=4)
    parser.add_argument("--ttft-questions", type=int, default=10)
    args = parser.parse_args()
    settings = load_settings(cli_overrides={"embeddings": {"n_threads": args.threads}})
    data_dir = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    size = sum(len(p.read_text()) for p in corpus_dir().rglob("*.md"))
    m = asyncio.run(measure_index_and_retrieval(settings, data_dir, args.top_k))
    print({k: v for k, v in m.items() if k != "texts"}, file=sys.stderr, flush=True)
    ref = reference_throughput(m["texts"], args.threads)
    print(f"reference: {ref} texts/s", file=sys.stderr, flush=True)
    ttft = measure_ttft(data_dir, args.ttft_questions, args.top_k)
    print(f"ttft ms: {ttft}", file=sys.stderr, flush=True)
    from importlib.metadata import version

    print(f"corpus: Playwright {version('playwright')} skill docs, {size} characters, {m['chunks']} chunks; "
          f"{len(QUESTIONS)} questions; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average at the end {os.getloadavg()[0]:.1f}")
    print()
    print("| measure | value | target |")
    print("| --- | --- | --- |")
    print(f"| recall@{args.top_k} | {m['recall']:.2f} | ≥ 0.85 |")
    print(f"| indexing the corpus (split, embed, store) | {m['index_s']:.1f} s | ≤ 60 s |")
    print(f"| retrieval p50 (embed the question + search) | {m['retrieval_p50_ms']:.1f} ms | ≤ 50 ms |")
    ttft_text = f"{p50(ttft):.0f} ms (n={len(ttft)})" if ttft else "n/a"
    print(f"| time to first token with retrieval, p50 | {ttft_text} | ≤ 1800 ms |")
    print(f"| embeddings, llama.cpp (this gateway), {args.threads} thread(s) | {m['ours_texts_per_s']:.1f} texts/s | |")
    ref_text = f"{ref:.1f} texts/s" if ref else "not installed (pip install sentence-transformers torch)"
    print(f"| embeddings, sentence-transformers + torch (reference), {args.threads} thread(s) | {ref_text} | |")


if __name__ == "__main__":
    main()
