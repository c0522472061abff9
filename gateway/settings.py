"""The whole configuration as pydantic models, loaded YAML < environment < command line.

Defaults live here; config/default.yaml repeats every key with a comment (a test keeps the two
in sync). Environment variables are `OSS_SIDECAR_<SECTION>__<KEY>` (e.g.
`OSS_SIDECAR_SERVER__PORT=8001`, `OSS_SIDECAR_ENGINE=vllm`), values parsed as YAML scalars.
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Union

import yaml
from pydantic import Field, ValidationError, create_model, field_validator, model_validator

from gateway.embeddings.settings import EmbeddingsSettings
from gateway.engines.registry import DEFAULT_ENGINE, engine_specs
from gateway.knowledge.settings import KnowledgeSettings
from gateway.settings_section import Section

ENV_PREFIX = "OSS_SIDECAR_"
# server.cors_origins' default, Ollama's: web pages served from this machine (any port), and the
# schemes of desktop apps and editor webviews (Electron, Tauri, VS Code), whose pages are local.
LOCAL_ORIGINS = (
    "http://localhost", "https://localhost", "http://localhost:*", "https://localhost:*",
    "http://127.0.0.1", "https://127.0.0.1", "http://127.0.0.1:*", "https://127.0.0.1:*",
    "http://0.0.0.0", "https://0.0.0.0", "http://0.0.0.0:*", "https://0.0.0.0:*",
    "app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*",
)


class ConfigError(Exception):
    """A bad setting: the message is one line naming the key."""


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # Bearer keys for /v1/*, /api/* and /metrics. Required before the server listens beyond loopback.
    api_keys: list[str] = Field(default_factory=list)
    # With api_keys set: whether GET /metrics needs a key too (a Prometheus scrape config can
    # send one as `authorization: {credentials: <key>}`); false opens it to a scraper without one.
    metrics_require_key: bool = True
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    # Served model id in /v1/models; default: the model file or folder name.
    served_model_name: Optional[str] = None
    # A second port with the same app, for Ollama clients that look at Ollama's own port
    # (11434) by default. Empty: off.
    ollama_port: Optional[int] = Field(None, ge=1, le=65535)
    # Host names accepted in the Host header besides loopback names and the listened address
    # (DNS rebinding defence); others get 403. E.g. [my-box.lan].
    allowed_hosts: list[str] = Field(default_factory=list)
    # Origins (scheme://host[:port]; `*` for any port or name part) whose web pages may call the
    # API from a browser; empty: no cross-origin access. The chat page is same-origin and needs
    # no entry. The default is Ollama's (OLLAMA_ORIGINS' built-in list): pages on this machine
    # and desktop-app/editor webviews.
    cors_origins: list[str] = Field(default_factory=lambda: list(LOCAL_ORIGINS))
    # Deepest JSON nesting accepted in a request body, checked before parsing.
    max_json_depth: int = Field(64, ge=4, le=1000)
    # Largest JSON Schema (response_format, a tool's parameters, Ollama's format) accepted, in
    # bytes of compact JSON. Engines build a schema's grammar in the loop that serves every
    # stream; larger ones are a 400 naming the field.
    max_schema_bytes: int = Field(32 * 1024, ge=1024)
    # JSON values (objects, arrays, strings, numbers; each enum entry) all of one request's
    # schemas may hold together; more is a 400 naming the field that went over.
    max_schema_values: int = Field(500, ge=16)
    # Seconds a client may take to send a request's headers.
    header_timeout_s: float = Field(10.0, gt=0)
    # Seconds an idle keep-alive connection stays open.
    keepalive_timeout_s: float = Field(30.0, gt=0)
    # Seconds one write to a client may stall (a reader that stopped reading); past it the
    # stream is aborted and its slot freed.
    write_timeout_s: float = Field(30.0, gt=0)
    # Seconds a request body may take to arrive, from the end of the headers (a body sent a
    # byte at a time, or promised by Content-Length and never sent, is cut off with 408).
    body_timeout_s: float = Field(30.0, gt=0)
    # Longest a request may run, start to last byte; a stream past it ends with an error event.
    request_timeout_s: float = Field(600.0, gt=0)
    # On SIGTERM: seconds running requests get to finish before they are ended.
    shutdown_grace_s: float = Field(10.0, ge=0)

    @field_validator("api_keys")
    @classmethod
    def _keys_not_empty(cls, keys: list[str]) -> list[str]:
        if any(not k.strip() for k in keys):
            raise ValueError("an API key must not be empty")
        return keys


class AdmissionSettings(Section):
    # Requests generating at once; more wait in the queue. Empty: the engine's own capacity
    # (llamacpp.n_parallel, vllm.max_num_seqs); a number above that capacity is capped to it.
    max_concurrency: Optional[int] = Field(None, ge=1)
    # Requests allowed to wait; past this, 429 with Retry-After.
    max_queue: int = Field(64, ge=0)
    # A queued request older than this gets 429 too (never hangs).
    queue_timeout_s: float = Field(30.0, gt=0)
    retry_after_s: int = Field(1, ge=0)
    # Sequences one request may ask for (prompts × n); more is a 400 naming n.
    max_sequences_per_request: int = Field(16, ge=1, le=1024)


class SamplingDefaults(Section):
    # Sampling of a request that sets none of its own, as a model's generation config sets it
    # in vLLM and a Modelfile's PARAMETER lines in Ollama; empty: the engine's own default.
    temperature: Optional[float] = Field(None, ge=0, le=2)
    top_p: Optional[float] = Field(None, gt=0, le=1)
    top_k: Optional[int] = Field(None, ge=0)
    min_p: Optional[float] = Field(None, ge=0, le=1)
    repetition_penalty: Optional[float] = Field(None, gt=0)
    presence_penalty: Optional[float] = Field(None, ge=-2, le=2)
    frequency_penalty: Optional[float] = Field(None, ge=-2, le=2)
    seed: Optional[int] = None


class ModelSettings(Section):
    # A GGUF file (llamacpp) or a Hugging Face id / local folder (vllm). Empty: the embedded default.
    path: Optional[str] = None
    # FIM template family; "auto" detects it from the tokenizer's special tokens.
    fim_family: str = "auto"
    # History window for requests that opt in (truncate_prompt_tokens: -1).
    history_window_tokens: int = Field(8192, ge=256)
    # Output limit of a chat request that sets none (some clients never do); empty: until the
    # context ends, as OpenAI does.
    default_max_tokens: Optional[int] = Field(None, ge=1)
    # Sampling fields a request leaves out (agents such as Claude Code send none).
    sampling: SamplingDefaults = Field(default_factory=SamplingDefaults)


class LoggingSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    # One line per request (method, path, status, tokens, time).
    access_log: bool = False


class _SettingsBase(Section):
    @model_validator(mode="after")
    def _keys_beyond_loopback(self) -> "_SettingsBase":
        if not _is_loopback(self.server.host) and not self.server.api_keys:
            raise ValueError(
                f"server.host {self.server.host}: listening beyond loopback needs --api-key or server.api_keys"
            )
        if self.server.ollama_port is not None and self.server.ollama_port == self.server.port:
            raise ValueError(f"server.ollama_port: must differ from server.port ({self.server.port})")
        return self


def _settings_model() -> type[_SettingsBase]:
    """The whole configuration: the common sections, and one section per registered engine."""
    engines = engine_specs()
    fields: dict[str, Any] = {
        # Which engine runs the model; the choices are the registered engines.
        "engine": (Literal[tuple(engines)], DEFAULT_ENGINE),
        "server": (ServerSettings, Field(default_factory=ServerSettings)),
        "admission": (AdmissionSettings, Field(default_factory=AdmissionSettings)),
        "model": (ModelSettings, Field(default_factory=ModelSettings)),
    }
    for spec in engines.values():
        fields[spec.name] = (spec.settings, Field(default_factory=spec.settings))
    fields["embeddings"] = (EmbeddingsSettings, Field(default_factory=EmbeddingsSettings))
    fields["knowledge"] = (KnowledgeSettings, Field(default_factory=KnowledgeSettings))
    fields["logging"] = (LoggingSettings, Field(default_factory=LoggingSettings))
    return create_model("Settings", __base__=_SettingsBase, __module__=__name__, **fields)


Settings = _settings_model()


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _deep_merge(base: dict, override: Mapping) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict, dict[tuple[str, ...], str]]:
    """The OSS_SIDECAR_* variables as a settings tree, and {key path: variable name}."""
    tree: dict = {}
    sources: dict[tuple[str, ...], str] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name.startswith(ENV_PREFIX + "TEST_"):
            continue
        path = name[len(ENV_PREFIX):].lower().split("__")
        for end in range(1, len(path) + 1):  # the sections too: an unknown one names the variable
            sources.setdefault(tuple(path[:end]), name)
        sources[tuple(path)] = name
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        try:
            node[path[-1]] = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError:
            node[path[-1]] = raw
    return tree, sources


def _paths(tree: Mapping, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of a settings tree, sections included."""
    out = []
    for key, value in tree.items():
        out.append(prefix + (str(key),))
        if isinstance(value, Mapping):
            out += _paths(value, prefix + (str(key),))
    return out


def _source(loc: tuple, sources: Mapping[tuple[str, ...], str]) -> Optional[str]:
    """Where the value at loc came from (the setting's own entry or a section above it)."""
    for end in range(len(loc), 0, -1):
        found = sources.get(tuple(str(p) for p in loc[:end]))
        if found is not None:
            return found
    return None


def _known_names(loc: tuple) -> list[str]:
    """The names of the settings beside an unknown one (loc: its path), for a did-you-mean."""
    model: Any = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type):
            return []
        model = field.annotation
    return list(getattr(model, "model_fields", {}))


def _format_validation_error(err: ValidationError, sources: Optional[Mapping[tuple[str, ...], str]] = None) -> str:
    first = err.errors()[0]
    loc = tuple(first["loc"])
    key = ".".join(str(p) for p in loc) or "config"
    source = _source(loc, sources or {})
    if first["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _known_names(loc), n=1, cutoff=0.6)
        section = "".join(f"{p}." for p in loc[:-1])
        fix = f"did you mean {section}{close[0]}?" if close else "`oss-sidecar config` prints every setting"
        return f"{source + ': ' if source else ''}unknown setting {key}; {fix}"
    msg = first["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
        if not loc:
            return msg  # a whole-config rule: its message names the key
    value = first.get("input")
    shown = "" if isinstance(value, (dict, list)) or first["type"] == "missing" else f" (got {value!r})"
    return f"{key}: {msg}{shown}{f'; set by {source}' if source else ''}"


def _read_yaml(path: Path) -> dict:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"--config: cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"--config: {path}{where}: not valid YAML: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--config: {path} is not a text file (UTF-8 YAML)") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"--config: {path} must hold a mapping of settings (key: value lines)")
    return loaded


def load_settings(
    config_file: Optional[Union[str, Path]] = None,
    cli_overrides: Optional[Mapping[str, Any]] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Settings:
    """Defaults < YAML file < OSS_SIDECAR_* environment < command line. Raises ConfigError."""
    data: dict = {}
    sources: dict[tuple[str, ...], str] = {}  # which layer set each key, for the error message
    if config_file is not None:
        data = _read_yaml(Path(config_file))
        sources.update(dict.fromkeys(_paths(data), f"--config {config_file}"))
    env, env_sources = _env_overrides(os.environ if environ is None else environ)
    data = _deep_merge(data, env)
    sources.update(env_sources)
    data = _deep_merge(data, cli_overrides or {})
    sources.update(dict.fromkeys(_paths(cli_overrides or {}), "the command line"))
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, sources)) from None
