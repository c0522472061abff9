"""The knowledge base stays inside the folder it was given, and only allowed clients read it:
links that leave the folder, links to folders and special files are skipped and named by
`oss-sidecar index`; with an API key, retrieval and the collection list answer keyed clients only."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

openai = pytest.importorskip("openai")
chromadb = pytest.importorskip("chromadb")

ROOT = Path(__file__).resolve().parents[2]
MODEL = "SmolLM2-135M-Instruct.Q4_1"
KEY = "kb-scope-key"
SECRET = "The vault password is hunter2-7431."


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("knowledge")


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """Files the user never meant to index: a secret beside the folder, a folder of them."""
    root = tmp_path_factory.mktemp("outside")
    (root / "secret.txt").write_text(SECRET + "\n")
    (root / "private").mkdir()
    (root / "private" / "vault.md").write_text(f"# Vault\n\n{SECRET}\n")
    return root


@pytest.fixture(scope="module")
def cloned(tmp_path_factory, outside) -> Path:
    """A cloned repository: its own files, and links a hostile author put in it."""
    root = tmp_path_factory.mktemp("cloned")
    (root / "README.md").write_text("# Lighthouse\n\nThe lighthouse keeper is named Ada Quill.\n")
    (root / "docs").mkdir()
    (root / "docs" / "guide.md").write_text("# Guide\n\nThe lamp is lit at dusk by the keeper.\n")
    (root / "passwd.txt").symlink_to("/etc/passwd")
    (root / "notes.txt").symlink_to(outside / "secret.txt")
    (root / "escape.md").symlink_to(Path("..") / outside.name / "secret.txt")  # relative, through ..
    (root / "vault").symlink_to(outside / "private")
    (root / "docs" / "same-guide.md").symlink_to(root / "docs" / "guide.md")  # inside: read once
    os.mkfifo(root / "pipe.txt")  # reading it would wait forever
    return root


def index(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "index", *args],
        cwd=ROOT, env={**os.environ, "OSS_SIDECAR_KNOWLEDGE__DATA_DIR": str(data_dir)},
        capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="module")
def indexed(data_dir, cloned) -> subprocess.CompletedProcess:
    proc = index(data_dir, str(cloned), "--collection", "cloned")
    assert proc.returncode == 0, proc.stderr
    return proc


def stored_sources(data_dir: Path, collection: str) -> list[str]:
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    client = chromadb.PersistentClient(path=str(data_dir))
    got = client.get_collection(collection).get(include=["metadatas", "documents"])
    assert not any("hunter2" in text or "root:" in text for text in got["documents"])
    return sorted({m["source"] for m in got["metadatas"]})


@pytest.mark.parametrize("name, reason", [
    ("passwd.txt", "a symbolic link to /etc/passwd, outside the folder being indexed"),
    ("notes.txt", "secret.txt, outside the folder being indexed"),
    ("escape.md", "secret.txt, outside the folder being indexed"),
    ("vault", "a symbolic link to the folder"),
    ("pipe.txt", "a FIFO, not a file"),
])
def test_links_out_and_special_files_are_skipped_and_named(indexed, cloned, name, reason):
    line = next((ln for ln in indexed.stderr.splitlines() if f"skipped {cloned}/{name}: " in ln), None)
    assert line is not None, indexed.stderr
    assert reason in line, line


def test_only_the_folders_own_files_are_stored(indexed, data_dir, cloned):
    assert stored_sources(data_dir, "cloned") == [f"{cloned}/README.md", f"{cloned}/docs/guide.md"]
    assert "2 files added" in indexed.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def keyed(start_gateway, data_dir, indexed):
    return start_gateway("--api-key", KEY, env={"OSS_SIDECAR_KNOWLEDGE__DATA_DIR": str(data_dir)})


def ask(gateway, key: str, question: str):
    client = openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0)
    return client.chat.completions.create(
        model=MODEL, max_tokens=4, messages=[{"role": "user", "content": question}],
        extra_body={"retrieval": {"collection": "cloned", "top_k": 5}},
    )


def test_retrieval_never_returns_a_file_outside_the_folder(keyed, cloned):
    answer = ask(keyed, KEY, "What is the vault password? root passwd hunter2")
    sources = answer.model_extra["sources"]
    assert sources and all(s["source"].startswith(f"{cloned}/") for s in sources)
    assert not any("hunter2" in s["text"] or "root:" in s["text"] for s in sources)


def test_with_a_key_only_keyed_clients_read_a_collection(keyed):
    with pytest.raises(openai.AuthenticationError):
        ask(keyed, "wrong-key", "Who keeps the lighthouse?")
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Who keeps the lighthouse?"}],
            "retrieval": {"collection": "cloned"}, "stream": False}
    keyless = httpx.post(keyed.base_url + "/chat/completions", json=body, timeout=60)
    assert keyless.status_code == 401 and "sources" not in keyless.text
    ollama = httpx.post(keyed.url + "/api/chat", json=body, timeout=60)
    assert ollama.status_code == 401 and "sources" not in ollama.text
    listing = httpx.get(keyed.url + "/v1/knowledge/collections", timeout=30)
    assert listing.status_code == 401 and "cloned" not in listing.text
    # The keyed client gets the folder's own text.
    assert "Ada Quill" in " ".join(s["text"] for s in ask(keyed, KEY, "Who keeps the lighthouse?").model_extra["sources"])


def test_without_a_key_the_server_stays_on_loopback():
    """Keyless retrieval is for this machine only: listening beyond loopback needs a key."""
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--host", "0.0.0.0", "--port", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "api_keys" in proc.stderr
