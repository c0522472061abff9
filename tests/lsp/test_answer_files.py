"""Answers shown as documents go to a private folder with unpredictable names (answer_files.py)."""

import os
import stat
import tempfile
from pathlib import Path

import pytest

from lsp.answer_files import AnswerFiles


@pytest.fixture
def files(monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    made = AnswerFiles()
    yield made
    made.remove()


def test_a_private_folder_and_files_no_one_can_guess(files):
    first = files.write("Explain", "It multiplies.")
    second = files.write("Explain", "Again.")
    folder = first.parent
    assert folder.parent == Path(tempfile.gettempdir()) and folder.name.startswith("oss-sidecar-")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and folder.stat().st_uid == os.getuid()
    # a file per answer: two editors (or two answers) never overwrite each other
    assert first != second and first.name.startswith("explain-") and first.suffix == ".md"
    assert first.read_text() == "# Explain\n\nIt multiplies.\n"
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    # the name is not a counter another user could predict
    assert first.stem.removeprefix("explain-") not in ("1", "2")
    # another server gets its own folder
    other = AnswerFiles()
    try:
        assert other.write("Explain", "x").parent != folder
    finally:
        other.remove()
    files.remove()
    assert not folder.exists()


def test_a_planted_link_is_never_followed(files, tmp_path, monkeypatch):
    # another local user plants links where a predictable folder or file would go
    target = tmp_path / "victim"
    target.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / "oss-sidecar").symlink_to(target)
    (tmp_path / "oss-sidecar-x").symlink_to(target)
    written = files.write("Explain", "secret")
    assert written.parent.parent == tmp_path and not written.parent.is_symlink()
    assert list(target.iterdir()) == []


def test_xdg_runtime_dir_when_private(tmp_path, monkeypatch):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    files = AnswerFiles()
    try:
        assert files.write("Explain", "x").parent.parent == runtime
    finally:
        files.remove()
    # open to others: not used, the system temp directory instead
    runtime.chmod(0o777)
    files = AnswerFiles()
    try:
        assert files.write("Explain", "x").parent.parent == Path(tempfile.gettempdir())
    finally:
        files.remove()
