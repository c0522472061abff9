"""examples/rag/rag.py runs unchanged against the gateway (Chroma's and LangChain's own
OpenAI clients on /v1/embeddings and /v1/chat/completions)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("chromadb")
pytest.importorskip("langchain_openai")

ROOT = Path(__file__).resolve().parents[2]


def test_rag_example_answers_with_references(gateway, tmp_path):
    (tmp_path / "ports.md").write_text("# Ports\n\nThe gateway listens on port 8000 unless --port says otherwise.\n")
    (tmp_path / "birds.txt").write_text("Puffins nest in burrows on sea cliffs.\n")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "rag" / "rag.py"), "--base-url", gateway.base_url,
         "--docs", str(tmp_path), "--question", "Which port does the gateway listen on?",
         "--top-k", "1", "--max-tokens", "24"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "indexed 2 chunks from 2 files"
    assert lines[-1].endswith("ports.md") and lines[-1].startswith("[ref 1]")


@pytest.mark.timeout(1500)  # about 900 chunks, embedded one by one; minutes on a busy machine
def test_rag_example_on_the_projects_own_docs(gateway):
    """The README's command, on docs/ as it is: every chunk fits the embedding model's window
    (a chunk of code or a table once had 448 tokens for a window of 256, and the run died)."""
    files = [p for p in (ROOT / "docs").rglob("*") if p.suffix in (".md", ".txt", ".rst")]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "rag" / "rag.py"), "--base-url", gateway.base_url,
         "--docs", "docs/", "--question", "How do I change the port?", "--max-tokens", "16"],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("indexed ") and lines[0].endswith(f" chunks from {len(files)} files"), lines[0]
    assert [line.split(" ", 2)[:2] for line in lines[-4:]] == [["[ref", f"{i}]"] for i in range(1, 5)]
    assert all(line.split("] ", 1)[1].startswith("docs/") for line in lines[-4:])
