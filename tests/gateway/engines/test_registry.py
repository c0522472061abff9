"""The engine registry: configuration, CLI choices, doctor and the README table come from it."""
from __future__ import annotations

from pathlib import Path

import pytest

import gateway.engines
from gateway import settings as settings_module
from gateway.cli import build_parser
from gateway.engines.registry import DEFAULT_ENGINE, engine_specs, markdown_table
from gateway.settings import ConfigError, Settings, load_settings
from gateway.settings_section import Section

ROOT = Path(__file__).resolve().parents[3]


def test_every_engine_module_is_found_default_first():
    specs = engine_specs()
    assert list(specs)[0] == DEFAULT_ENGINE == "llamacpp"
    assert {"llamacpp", "vllm"} <= set(specs)
    for name, spec in specs.items():
        assert spec.name == name and spec.summary and issubclass(spec.settings, Section)


def test_settings_have_one_section_per_engine():
    fields = Settings.model_fields
    for name, spec in engine_specs().items():
        assert fields[name].annotation is spec.settings
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"OSS_SIDECAR_ENGINE": "tgi"})
    assert str(info.value).startswith("engine:")


def test_cli_engine_choices_are_the_registry():
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]
    engine = next(a for a in serve._actions if a.dest == "engine")
    assert engine.choices == list(engine_specs())


def test_readme_engines_table_is_the_registry():
    assert markdown_table() in (ROOT / "docs" / "CONFIGURATION.md").read_text()


# A stand-in engine module (not a real engine): proves that one module is all it takes.
_STANDIN = '''
from gateway.engines.registry import EngineSpec
from gateway.settings_section import Section


class StandInSettings(Section):
    word: str = "hello"


ENGINE = EngineSpec(name="standin", summary="a stand-in", settings=StandInSettings,
                    build=lambda settings: None, doctor=lambda settings: [(True, "fine")])
'''


def test_adding_an_engine_is_one_module(tmp_path, monkeypatch):
    (tmp_path / "standin_engine.py").write_text(_STANDIN)
    monkeypatch.setattr(gateway.engines, "__path__", [*gateway.engines.__path__, str(tmp_path)])
    engine_specs.cache_clear()
    try:
        model = settings_module._settings_model()
        loaded = model.model_validate({"engine": "standin", "standin": {"word": "hi"}})
        assert loaded.standin.word == "hi"
        assert "standin" in markdown_table()
    finally:
        engine_specs.cache_clear()
