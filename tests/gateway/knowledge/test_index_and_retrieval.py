"""Knowledge bases: `oss-sidecar index` (add, re-index only what changed, remove, delete) and
retrieval-augmented chat through the openai SDK with the `retrieval` extension field."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

openai = pytest.importorskip("openai")
chromadb = pytest.importorskip("chromadb")

ROOT = Path(__file__).resolve().parents[3]
MODEL = "SmolLM2-135M-Instruct.Q4_1"

DOCS = {
    "heliotrope.md": "# Project Heliotrope\n\nThe launch code of project Heliotrope is 7421. "
    "Only the night shift may use it.\n",
    "zebras.txt": "Zebras are African equines with black and white stripes. Each zebra's stripes are unique.\n",
    "tools/compress.py": 'def compress(data: bytes) -> bytes:\n    """Squeeze bytes with zlib at level 9."""\n'
    "    import zlib\n    return zlib.compress(data, 9)\n",
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("knowledge")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for name, text in DOCS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def index(data_dir: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "index", *args],
        cwd=ROOT, env={**os.environ, "OSS_SIDECAR_KNOWLEDGE__DATA_DIR": str(data_dir)},
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stderr.strip().splitlines()[-1]


def stored_sources(data_dir: Path, collection: str) -> set[str]:
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # see the other process's writes
    client = chromadb.PersistentClient(path=str(data_dir))
    metadatas = client.get_collection(collection).get(include=["metadatas"])["metadatas"]
    return {Path(m["source"]).name for m in metadatas}


@pytest.fixture(scope="module")
def gw(start_gateway, data_dir, corpus):
    assert "3 files added" in index(data_dir, str(corpus), "--collection", "notes")
    return start_gateway(env={"OSS_SIDECAR_KNOWLEDGE__DATA_DIR": str(data_dir)})


@pytest.fixture(scope="module")
def client(gw):
    return openai.OpenAI(base_url=gw.base_url, api_key="none", max_retries=0)


def test_index_stores_every_file(gw, data_dir):
    assert stored_sources(data_dir, "notes") == {"heliotrope.md", "zebras.txt", "compress.py"}


def test_retrieval_answer_carries_its_sources(client):
    answer = client.chat.completions.create(
        model=MODEL, max_tokens=24, temperature=0,
        messages=[{"role": "user", "content": "What is the launch code of project Heliotrope?"}],
        extra_body={"retrieval": {"collection": "notes", "top_k": 2}},
    )
    sources = answer.model_extra["sources"]
    assert [s["ref"] for s in sources] == [1, 2]
    assert Path(sources[0]["source"]).name == "heliotrope.md"
    assert "7421" in sources[0]["text"]
    assert sources[0]["score"] > sources[1]["score"]
    # The references went into the prompt: the prompt is longer than the question alone.
    assert answer.usage.prompt_tokens > 60


def test_retrieval_stream_opens_with_the_sources(client):
    stream = client.chat.completions.create(
        model=MODEL, max_tokens=8, stream=True,
        messages=[{"role": "user", "content": "Which animal has stripes?"}],
        extra_body={"retrieval": {"collection": "notes", "top_k": 1}},
    )
    chunks = list(stream)
    first = chunks[0]
    assert first.choices == []
    assert Path(first.model_extra["sources"][0]["source"]).name == "zebras.txt"
    assert any(c.choices and c.choices[0].delta.content for c in chunks[1:])


def test_a_stream_sends_the_sources_before_the_engine_reads_the_prompt(gw):
    """The sources go out before the engine starts: a prompt the engine then refuses (longer than
    its window) still gets them first, and the refusal follows in the same stream."""
    httpx = pytest.importorskip("httpx")
    question = "Which animal has stripes? " + "zebra stripes " * 6000  # past the 8192-token window
    with httpx.stream("POST", gw.base_url + "/chat/completions", timeout=120, json={
        "model": MODEL, "stream": True, "messages": [{"role": "user", "content": question}],
        "retrieval": {"collection": "notes", "top_k": 1},
    }) as answer:
        assert answer.status_code == 200
        events = [line.removeprefix("data: ") for line in answer.iter_lines() if line.startswith("data: ")]
    first = json.loads(events[0])
    assert first["choices"] == [] and Path(first["sources"][0]["source"]).name == "zebras.txt"
    error = json.loads(events[1])["error"]
    assert error["code"] == "context_length_exceeded", error
    assert events[2:] == ["[DONE]"]


def test_ollama_stream_sends_the_sources_before_the_engine_reads_the_prompt(gw):
    """The same on /api/chat: the sources' line first, then Ollama's error line."""
    httpx = pytest.importorskip("httpx")
    question = "Which animal has stripes? " + "zebra stripes " * 6000
    with httpx.stream("POST", gw.url + "/api/chat", timeout=120, json={
        "model": MODEL, "stream": True, "truncate": False, "messages": [{"role": "user", "content": question}],
        "retrieval": {"collection": "notes", "top_k": 1},
    }) as answer:
        assert answer.status_code == 200
        lines = [json.loads(line) for line in answer.iter_lines() if line.strip()]
    assert Path(lines[0]["sources"][0]["source"]).name == "zebras.txt" and lines[0]["done"] is False
    assert "error" in lines[1] and len(lines) == 2, lines[1:]


def test_unknown_collection_is_a_404_naming_the_field(client):
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}], extra_body={"retrieval": {"collection": "nope"}}
        )
    assert err.value.body["param"] == "retrieval.collection"


def test_top_k_beyond_the_limit_is_a_400(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}],
            extra_body={"retrieval": {"collection": "notes", "top_k": 500}},
        )
    assert err.value.body["param"] == "retrieval.top_k"


def test_ollama_chat_takes_the_same_retrieval_field(gw):
    """/api/chat with the extension field (Ollama's clients have no way to send it; the JSON is
    posted as is): the sources beside `message`, or in a first NDJSON line of their own."""
    import json

    import httpx

    body = {"model": MODEL, "messages": [{"role": "user", "content": "Which animal has stripes?"}],
            "retrieval": {"collection": "notes", "top_k": 1}, "options": {"num_predict": 8, "temperature": 0}}
    answer = httpx.post(gw.url + "/api/chat", json={**body, "stream": False}, timeout=120).json()
    assert answer["done"] and answer["message"]["content"]
    assert [Path(s["source"]).name for s in answer["sources"]] == ["zebras.txt"]
    with httpx.stream("POST", gw.url + "/api/chat", json=body, timeout=120) as r:
        lines = [json.loads(line) for line in r.iter_lines() if line]
    first, *rest = lines
    assert first["done"] is False and first["message"]["content"] == "" and first["sources"] == answer["sources"]
    assert "".join(line["message"]["content"] for line in rest) and rest[-1]["done"]
    assert all("sources" not in line for line in rest)
    missing = httpx.post(gw.url + "/api/chat", json={**body, "retrieval": {"collection": "nope"}}, timeout=60)
    assert missing.status_code == 404 and list(missing.json()) == ["error"]
    assert missing.json()["error"].startswith("retrieval.collection:")


def test_reindex_touches_only_what_changed_and_the_gateway_sees_it(gw, client, data_dir, corpus):
    assert "0 files added, 0 updated, 3 unchanged, 0 removed; 0 chunks" in index(
        data_dir, str(corpus), "--collection", "notes"
    )
    (corpus / "zebras.txt").write_text("Okapis are forest giraffes with striped legs, found in Congo.\n")
    (corpus / "tools" / "compress.py").unlink()
    (corpus / "lighthouse.rst").write_text("Lighthouse\n==========\n\nThe lighthouse keeper is named Ada Quill.\n")
    report = index(data_dir, str(corpus), "--collection", "notes")
    assert "1 files added, 1 updated, 1 unchanged, 1 removed" in report
    assert stored_sources(data_dir, "notes") == {"heliotrope.md", "zebras.txt", "lighthouse.rst"}
    # The running gateway answers from the new index without a restart.
    answer = client.chat.completions.create(
        model=MODEL, max_tokens=4, messages=[{"role": "user", "content": "Who keeps the lighthouse?"}],
        extra_body={"retrieval": {"collection": "notes", "top_k": 1}},
    )
    assert "Ada Quill" in answer.model_extra["sources"][0]["text"]


def test_delete_paths_then_the_collection(data_dir, corpus):
    assert "removed 1 files" in index(data_dir, str(corpus / "heliotrope.md"), "--collection", "notes", "--delete")
    assert "heliotrope.md" not in stored_sources(data_dir, "notes")
    assert "deleted the knowledge base notes" in index(data_dir, "--collection", "notes", "--delete")
    client = chromadb.PersistentClient(path=str(data_dir))
    assert "notes" not in [c.name for c in client.list_collections()]


SPEC_PDF = Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf")  # Debian's shared-mime-info


@pytest.mark.skipif(not SPEC_PDF.is_file(), reason=f"no real PDF here ({SPEC_PDF}, from Debian's shared-mime-info)")
def test_pdf_is_indexed_page_by_page(data_dir):
    pytest.importorskip("pypdf")
    assert "1 files added" in index(data_dir, str(SPEC_PDF), "--collection", "pdfs")
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    collection = chromadb.PersistentClient(path=str(data_dir)).get_collection("pdfs")
    metadatas = collection.get(include=["metadatas"])["metadatas"]
    pages = {m["page"] for m in metadatas}
    assert len(metadatas) > 17 and min(pages) == 1 and max(pages) >= 15
    hits = collection.get(where={"page": 2}, include=["documents"])["documents"]
    assert any("RFC 2119" in text for text in hits)


def test_bad_collection_name_exits_2_naming_it(data_dir, corpus):
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "index", str(corpus), "--collection", "a"],
        cwd=ROOT, env={**os.environ, "OSS_SIDECAR_KNOWLEDGE__DATA_DIR": str(data_dir)},
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("oss-sidecar index: --collection: Expected a name")
