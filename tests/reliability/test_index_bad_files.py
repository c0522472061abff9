"""`oss-sidecar index` survives bad documents: each damaged PDF, undecodable or binary file, file
past the size limit or slow page is skipped with its name and reason while the run goes on,
through the CLI as a user runs it; names in any bytes; no empty knowledge base; large files."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pdf_bytes import cyclic_page_tree, good, shared_huge_stream, slow_page_then_good, stream_past_the_limit

chromadb = pytest.importorskip("chromadb")
pytest.importorskip("pypdf")

ROOT = Path(__file__).resolve().parents[2]
# A file name that is not UTF-8 (Latin-1 "é"), as a folder copied from an old system holds.
LATIN1_NAME = b"caf\xe9-notes.txt"
LIMITS = {  # small bounds, so that the test needs neither a 256 MiB file nor a five-minute PDF
    "OSS_SIDECAR_KNOWLEDGE__MAX_FILE_MIB": "1",
    "OSS_SIDECAR_KNOWLEDGE__PDF_PAGE_TIMEOUT_S": "1",
    "OSS_SIDECAR_KNOWLEDGE__FILE_TIMEOUT_S": "20",
}


def run_index(data_dir: Path, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "index", *args],
        cwd=ROOT, env={**os.environ, "OSS_SIDECAR_KNOWLEDGE__DATA_DIR": str(data_dir), **(env or {})},
        capture_output=True, text=True, timeout=timeout,
    )


def stored(data_dir: Path, collection: str) -> dict[str, list[str]]:
    """source → its chunks' texts, as another process wrote them."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    client = chromadb.PersistentClient(path=str(data_dir))
    if collection not in [c.name for c in client.list_collections()]:
        return {}
    got = client.get_collection(collection).get(include=["metadatas", "documents"])
    out: dict[str, list[str]] = {}
    for meta, text in zip(got["metadatas"], got["documents"]):
        out.setdefault(meta["source"], []).append(text)
    return out


def skip_lines(stderr: str) -> dict[str, str]:
    """file name → reason, from the `skipped PATH: REASON` lines."""
    found = {}
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith("oss-sidecar index: skipped "):
            path, _, reason = line.removeprefix("oss-sidecar index: skipped ").partition(": ")
            found.setdefault(Path(path).name, reason)
    return found


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("downloads")
    (root / "guide.md").write_text("# Guide\n\nThe lighthouse keeper is named Ada Quill.\n")
    (root / "garbage.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(4000))
    (root / "cyclic.pdf").write_bytes(cyclic_page_tree())
    (root / "shared-stream.pdf").write_bytes(shared_huge_stream())
    (root / "slow-first-page.pdf").write_bytes(slow_page_then_good("Puffins nest in burrows on sea cliffs."))
    (root / "report.pdf").write_bytes(good("The quarterly heliotrope count was 7421."))
    (root / "data.txt").write_bytes(b"header\0\0\0binary payload")
    (root / "latin1.txt").write_bytes("Gr\xfc\xdfe aus K\xf6ln".encode("latin-1"))
    (root / "huge.log").write_bytes(b"line of a log\n" * 150_000)  # 2 MiB, over the 1 MiB limit
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    os.mkdir(os.path.join(os.fsencode(root), b"sub"))
    with open(os.path.join(os.fsencode(root), b"sub", LATIN1_NAME), "wb") as f:
        f.write(b"The okapi lives in the forests of Congo.\n")
    return root


@pytest.fixture(scope="module")
def first_run(hostile, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("kb")
    return data_dir, run_index(data_dir, str(hostile), "--collection", "downloads", env=LIMITS)


def test_the_run_goes_on_past_every_bad_file(first_run):
    data_dir, proc = first_run
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "downloads: 4 files added" in last and "7 skipped (named above)" in last, last
    names = {Path(s).name for s in stored(data_dir, "downloads")}
    assert names == {"guide.md", "report.pdf", "slow-first-page.pdf", "caf\\xe9-notes.txt"}


@pytest.mark.parametrize("name, reason", [
    ("garbage.pdf", "damaged or unreadable"),
    ("cyclic.pdf", "cyclic"),
    ("shared-stream.pdf", "took longer than knowledge.file_timeout_s (20 s)"),
    ("data.txt", "binary content"),
    ("latin1.txt", "not UTF-8 text (byte 0xfc at offset 2)"),
    ("huge.log", "larger than knowledge.max_file_mib (1 MiB)"),
    ("logo.png", "not a kind of file the indexer reads (.png)"),
])
def test_each_bad_file_is_named_with_its_reason(first_run, name, reason):
    _, proc = first_run
    skipped = skip_lines(proc.stderr)
    assert name in skipped, proc.stderr
    assert reason in skipped[name], skipped[name]


def test_a_slow_pdf_page_is_left_out_and_the_rest_indexed(first_run):
    data_dir, proc = first_run
    assert "page 1 left out: its text took longer than knowledge.pdf_page_timeout_s (1 s)" in proc.stderr
    chunks = next(texts for source, texts in stored(data_dir, "downloads").items() if source.endswith("slow-first-page.pdf"))
    assert any("Puffins nest in burrows" in text for text in chunks)


def test_a_name_that_is_not_utf8_is_indexed_and_found_again(first_run, hostile):
    data_dir, _ = first_run
    sources = [s for s in stored(data_dir, "downloads") if s.endswith("caf\\xe9-notes.txt")]
    assert sources == [f"{hostile}/sub/caf\\xe9-notes.txt"]
    again = run_index(data_dir, str(hostile / "sub"), "--collection", "downloads", env=LIMITS)
    assert again.returncode == 0, again.stderr
    assert "0 files added, 0 updated, 1 unchanged, 0 removed" in again.stderr.strip().splitlines()[-1]
    removed = run_index(data_dir, str(hostile / "sub"), "--collection", "downloads", "--delete")
    assert "removed 1 files" in removed.stderr, removed.stderr


def test_an_empty_folder_creates_no_knowledge_base(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".hidden.md").write_text("not looked at")
    proc = run_index(tmp_path / "kb", str(empty), "--collection", "nothing")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"oss-sidecar index: {empty}: nothing to index, so no knowledge base nothing was created")
    assert stored(tmp_path / "kb", "nothing") == {}


def test_a_folder_of_only_bad_files_creates_no_knowledge_base(tmp_path):
    """With the default limits: a PDF whose stream inflates past pypdf's limit is stopped by
    pypdf itself, named with pypdf's reason."""
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "bomb.pdf").write_bytes(stream_past_the_limit())
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    (folder / "logo.png").write_bytes(b"\x89PNG")
    proc = run_index(tmp_path / "kb", str(folder), "--collection", "nothing")
    assert proc.returncode == 2, proc.stderr
    skipped = skip_lines(proc.stderr)
    assert set(skipped) == {"bomb.pdf", "broken.pdf", "logo.png"}
    assert "LimitReachedError" in skipped["bomb.pdf"], skipped["bomb.pdf"]
    assert "damaged or unreadable" in skipped["broken.pdf"]
    assert proc.stderr.strip().splitlines()[-1] == (
        f"oss-sidecar index: {folder}: nothing to index, so no knowledge base nothing was created: "
        "every file was skipped (3, each named above)")
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    assert chromadb.PersistentClient(path=str(tmp_path / "kb")).list_collections() == []


def test_a_120_mb_text_file_is_indexed(tmp_path):
    """Reading and splitting a file this size takes long enough that, on the event loop, the
    embedding model's idle connection was closed under it (ClientOSError). Chunks of 4 MB keep
    the embedding work small; the read and split are the whole file's."""
    folder = tmp_path / "big"
    folder.mkdir()
    paragraph = ("The keeper trims the lamp and logs the weather at every watch. " * 30 + "\n\n").encode()
    with open(folder / "logbook.txt", "wb") as f:
        for _ in range((120 << 20) // len(paragraph) + 1):
            f.write(paragraph)
    proc = run_index(tmp_path / "kb", str(folder), "--collection", "logbook",
                     env={"OSS_SIDECAR_KNOWLEDGE__CHUNK_SIZE": "4000000"}, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 files added" in proc.stderr.strip().splitlines()[-1]
    chunks = stored(tmp_path / "kb", "logbook")[str(folder / "logbook.txt")]
    assert len(chunks) >= 30 and sum(len(c) for c in chunks) >= 120 << 20


def test_the_limits_are_documented_with_their_defaults():
    """config/default.yaml (with a comment), and docs/SECURITY.md's settings table, for each bound."""
    from gateway.knowledge.settings import KnowledgeSettings

    default = yaml.safe_load((ROOT / "config" / "default.yaml").read_text())["knowledge"]
    security = (ROOT / "docs" / "SECURITY.md").read_text()
    for key in ("max_file_mib", "file_timeout_s", "pdf_page_timeout_s", "reader_memory_mib"):
        real = KnowledgeSettings().model_dump()[key]
        assert default[key] == real
        assert f"| `knowledge.{key}` | `{real:g}` |" in security, key
