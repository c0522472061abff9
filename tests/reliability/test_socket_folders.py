"""No `oss-sidecar-llama-*` socket folder is left behind: SIGTERM to `oss-sidecar index`, a
second signal to `index` or `serve` (which exits at once), and, after a SIGKILL, the next start
of any oss-sidecar removes the folders of processes that no longer run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from pdf_bytes import shared_huge_stream

pytest.importorskip("chromadb")
pytest.importorskip("pypdf")

ROOT = Path(__file__).resolve().parents[2]


def folders(pid: int) -> list[Path]:
    return sorted(Path(tempfile.gettempdir()).glob(f"oss-sidecar-llama-{pid}-*"))


class Indexing:
    """`oss-sidecar index` on a folder whose PDF keeps the reader busy, its stderr collected."""

    def __init__(self, folder: Path, data_dir: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "index", str(folder), "--collection", "slow"],
            cwd=ROOT, env={**os.environ, "OSS_SIDECAR_KNOWLEDGE__DATA_DIR": str(data_dir)},
            stderr=subprocess.PIPE,
        )
        self.text = ""
        self.reading = threading.Event()
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        # Raw reads: the progress bar redraws with "\r" and no newline, which a line reader would wait on.
        while chunk := os.read(self.process.stderr.fileno(), 4096):
            self.text += chunk.decode(errors="replace")
            if "indexing into slow" in self.text:
                self.reading.set()  # the model is loaded and the progress bar drawn

    @property
    def lines(self) -> list[str]:
        return [line.strip() for line in self.text.splitlines() if line.strip()]

    def wait_reading(self) -> None:
        deadline = time.monotonic() + 240
        while not (self.reading.is_set() and folders(self.process.pid)) and time.monotonic() < deadline:
            assert self.process.poll() is None, self.text
            time.sleep(0.2)
        assert folders(self.process.pid), self.text

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def finish(self) -> int:
        code = self.process.wait(120)
        time.sleep(0.5)  # the stderr thread's last lines
        return code


@pytest.fixture
def indexing(slow_folder, tmp_path):
    """Starts `index` runs on the slow folder; any still running at the end is killed."""
    runs: list[Indexing] = []

    def start() -> Indexing:
        runs.append(Indexing(slow_folder, tmp_path / "kb"))
        return runs[-1]

    yield start
    for run in runs:
        run.kill()


@pytest.fixture
def slow_folder(tmp_path) -> Path:
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "shared-stream.pdf").write_bytes(shared_huge_stream())
    return folder


@pytest.mark.timeout(600)
def test_sigterm_ends_index_and_removes_its_folder(indexing):
    run = indexing()
    run.wait_reading()
    run.process.send_signal(signal.SIGTERM)
    assert run.finish() == 143, run.text
    assert run.lines[-1] == "oss-sidecar index: interrupted; no knowledge base was created", run.lines[-3:]
    assert folders(run.process.pid) == []
    assert "Traceback" not in run.text


@pytest.mark.timeout(600)
def test_a_second_signal_ends_index_at_once_and_removes_its_folder(indexing):
    run = indexing()
    run.wait_reading()
    run.process.send_signal(signal.SIGINT)
    run.process.send_signal(signal.SIGTERM)
    assert run.finish() in (130, 143)
    assert folders(run.process.pid) == []


def test_a_second_signal_ends_serve_at_once_and_removes_its_folders(start_gateway):
    gw = start_gateway(env={"OSS_SIDECAR_SERVER__SHUTDOWN_GRACE_S": "60"})
    assert len(folders(gw.process.pid)) == 2  # the chat model's listener and the embedding model's
    body = {"messages": [{"role": "user", "content": "Tell a long story."}], "max_tokens": 4000,
            "ignore_eos": True, "stream": True}
    started = threading.Event()

    def stream() -> None:
        try:
            with httpx.stream("POST", gw.base_url + "/chat/completions", json=body, timeout=120) as answer:
                for _ in answer.iter_lines():
                    started.set()
        except httpx.HTTPError:
            pass
        started.set()

    threading.Thread(target=stream, daemon=True).start()
    assert started.wait(120)
    gw.process.send_signal(signal.SIGTERM)  # drains: the stream may run for 60 s
    time.sleep(0.5)
    gw.process.send_signal(signal.SIGTERM)  # at once
    assert gw.process.wait(60) == 128 + signal.SIGTERM
    assert folders(gw.process.pid) == []


@pytest.mark.timeout(900)
def test_after_sigkill_the_next_start_removes_the_folder(indexing, tmp_path):
    killed = indexing()
    killed.wait_reading()
    left = folders(killed.process.pid)
    killed.process.send_signal(signal.SIGKILL)
    killed.process.wait(60)
    assert folders(killed.process.pid) == left  # nothing runs in a killed process
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.md").write_text("The lamp is lit at dusk.\n")
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "index", str(notes), "--collection", "notes"],
        cwd=ROOT, env={**os.environ, "OSS_SIDECAR_KNOWLEDGE__DATA_DIR": str(tmp_path / "kb")},
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert folders(killed.process.pid) == []
