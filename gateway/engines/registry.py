"""The engines this installation has, found by module: each engine module (or package) under
gateway.engines declares `ENGINE = EngineSpec(...)`.

The configuration (`engine` choices and one settings section per engine), the CLI's `--engine`
choices, `oss-sidecar doctor` and the engines table in docs/CONFIGURATION.md all come from here, so
adding an engine is one module plus its tests. Engine modules must import without their
heavy runtime (vLLM, torch): `build` imports it when the engine is chosen.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from gateway.settings_section import Section

if TYPE_CHECKING:
    from gateway.engines.base import Engine
    from gateway.settings import Settings

DEFAULT_ENGINE = "llamacpp"


class EngineUnavailable(Exception):
    """The configured engine cannot run here; the message is one line saying what to install."""


@dataclass(frozen=True)
class EngineSpec:
    name: str  # the `engine` setting's value and the name of its settings section
    summary: str  # one line for the docs and `--help`
    settings: type[Section]  # the engine's settings section
    # Builds the engine; raises EngineUnavailable (one line) when it cannot run here.
    build: Callable[["Settings"], "Engine"]
    # `oss-sidecar doctor`: (ok, line) pairs about this engine's installation.
    doctor: Callable[["Settings"], list[tuple[bool, str]]]


@functools.cache
def engine_specs() -> dict[str, EngineSpec]:
    """Every engine, the default first, then by name."""
    import gateway.engines as package

    found: dict[str, EngineSpec] = {}
    for module in pkgutil.iter_modules(package.__path__):
        spec = getattr(importlib.import_module(f"{package.__name__}.{module.name}"), "ENGINE", None)
        if isinstance(spec, EngineSpec):
            found[spec.name] = spec
    order = sorted(found, key=lambda name: (name != DEFAULT_ENGINE, name))
    return {name: found[name] for name in order}


def create_engine(settings: "Settings") -> "Engine":
    return engine_specs()[settings.engine].build(settings)


def markdown_table() -> str:
    """The engines table of docs/CONFIGURATION.md."""
    rows = ["| engine | what it runs | settings |", "| --- | --- | --- |"]
    for spec in engine_specs().values():
        rows.append(f"| `{spec.name}` | {spec.summary} | `{spec.name}.*` |")
    return "\n".join(rows)
