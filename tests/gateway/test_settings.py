"""Configuration: every key documented in config/default.yaml, bad values exit 2 with one line."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from gateway.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_YAML = ROOT / "config" / "default.yaml"


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    out = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out |= _keys(annotation, f"{prefix}{name}.")
        else:
            out.add(prefix + name)
    return out


def _leaves(tree: dict, prefix: str = "") -> dict:
    """{dotted key: value} of every setting in a YAML tree."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def test_default_yaml_lists_every_setting_with_its_default():
    documented = yaml.safe_load(DEFAULT_YAML.read_text())
    assert set(_leaves(documented)) == _keys(Settings)
    assert Settings.model_validate(documented) == Settings()


def test_the_configuration_page_documents_every_setting():
    page = (ROOT / "docs" / "CONFIGURATION.md").read_text()
    missing = [key for key in sorted(_keys(Settings)) if f"`{key}`" not in page]
    assert not missing, f"docs/CONFIGURATION.md's settings table lacks {missing}"


def _table_defaults(doc: Path, prefix: str = "") -> dict:
    """`| `key` | `default` | ... |` rows of a Markdown settings table: {prefix + key: default}."""
    out = {}
    for line in doc.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`") and cells[1].startswith("`"):
            out[prefix + cells[0].strip("`")] = yaml.safe_load(cells[1].strip("`"))
    return out


@pytest.mark.parametrize("doc, prefix", [("docs/CONFIGURATION.md", ""), ("docs/GPU.md", "vllm.")])
def test_documented_defaults_are_the_real_ones(doc, prefix):
    """docs/CONFIGURATION.md's table and docs/GPU.md's `vllm:` table repeat each key's default: both must be true."""
    real = _leaves(yaml.safe_load(DEFAULT_YAML.read_text()))
    documented = {k: v for k, v in _table_defaults(ROOT / doc, prefix).items() if k in real}
    assert documented, f"no settings table found in {doc}"
    wrong = {k: (v, real[k]) for k, v in documented.items() if v != real[k]}
    assert not wrong, f"{doc}: documented default != real default: {wrong}"


def test_every_setting_has_a_comment():
    lines = DEFAULT_YAML.read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and ":" in stripped and not stripped.endswith(":"):
            assert lines[i - 1].strip().startswith("#"), f"no comment above {stripped!r}"


def test_precedence_yaml_env_cli(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("server:\n  port: 9001\nadmission:\n  max_queue: 5\n")
    env = {"OSS_SIDECAR_SERVER__PORT": "9002", "OSS_SIDECAR_LLAMACPP__N_PARALLEL": "2"}
    s = load_settings(config, {"admission": {"max_queue": 7}}, environ=env)
    assert (s.server.port, s.admission.max_queue, s.llamacpp.n_parallel) == (9002, 7, 2)


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"OSS_SIDECAR_SERVER__PORT": "eighty"}, "server.port"),
        ({"OSS_SIDECAR_ADMISSION__MAX_QUEUE": "-3"}, "admission.max_queue"),
        ({"OSS_SIDECAR_SERVER__HOST": "0.0.0.0"}, "server.host 0.0.0.0: listening beyond loopback needs --api-key"),
        ({"OSS_SIDECAR_LLAMACPP__N_PARALEL": "2"},
         "OSS_SIDECAR_LLAMACPP__N_PARALEL: unknown setting llamacpp.n_paralel; did you mean llamacpp.n_parallel?"),
        ({"OSS_SIDECAR_VLLM__TENSOR_PARALLEL_SIZE": "0"}, "vllm.tensor_parallel_size"),
        ({"OSS_SIDECAR_SERVER__OLLAMA_PORT": "8000"}, "server.ollama_port"),
        ({"OSS_SIDECAR_SERVER__OLLAMA_PORT": "70000"}, "server.ollama_port"),
    ],
)
def test_bad_value_names_the_key(env, expected):
    with pytest.raises(ConfigError) as info:
        load_settings(environ=env)
    assert str(info.value).startswith(expected)


def test_cli_exits_2_with_one_line(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("admission:\n  max_concurrency: zero\n")
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "admission.max_concurrency" in lines[0], result.stderr


def test_bad_fim_family_exits_2():
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "OSS_SIDECAR_MODEL__FIM_FAMILY": "gpt"},
    )
    assert result.returncode == 2
    assert "model.fim_family" in result.stderr


def test_missing_model_file_says_what_to_do(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--model", str(tmp_path / "nope.gguf")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert "model.path" in result.stderr and "nope.gguf" in result.stderr


def test_corrupt_default_model_names_the_fix(tmp_path, monkeypatch):
    from gateway.engines import default_model

    fake = tmp_path / default_model.FILE_NAME
    fake.write_bytes(b"GGUF not really")
    with pytest.raises(default_model.ModelFileError) as info:
        default_model.verify_default_model(fake)
    assert default_model.INSTALL_COMMAND in str(info.value)
