"""Language-server settings: ``initializationOptions`` and ``workspace/didChangeConfiguration``.

The keys are the ones fixed in docs/PROTOCOL.md (camelCase on the wire). Both payload shapes
are accepted: ``{"settings": {"ossSidecar": {...}}}``, ``{"ossSidecar": {...}}`` or the object
itself. Unknown keys are ignored; a value of the wrong type keeps the previous value.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_GATEWAY_URL = "http://127.0.0.1:8000"


@dataclasses.dataclass(frozen=True)
class Features:
    inline_completion: bool = True
    code_actions: bool = True
    ask: bool = True


@dataclasses.dataclass(frozen=True)
class Settings:
    gateway_url: str = DEFAULT_GATEWAY_URL
    api_key: str | None = None
    model: str | None = None
    max_tokens: int = 128
    temperature: float = 0.2
    debounce_ms: int = 150
    context_budget_tokens: int = 1024
    features: Features = dataclasses.field(default_factory=Features)
    # Extras beyond PROTOCOL.md (documented in docs/LSP.md).
    adaptive_debounce: bool = True
    completion_timeout_ms: int = 10_000
    chat_max_tokens: int = 512
    chat_timeout_ms: int = 120_000
    # a codeAction/resolve answers within this, else hands the run to ossSidecar.runAction
    resolve_timeout_ms: int = 4_000

    @property
    def base_url(self) -> str:
        """The OpenAI base URL: ``gatewayUrl`` with or without a trailing ``/v1``."""
        url = self.gateway_url.rstrip("/")
        return url if url.endswith("/v1") else url + "/v1"

    def merged(self, payload: Any) -> "Settings":
        """A copy with the keys of a configuration payload applied."""
        options = unwrap(payload)
        if not options:
            return self
        changes: dict[str, Any] = {}
        for wire, field, kind in _FIELDS:
            if wire not in options:
                continue
            value = options[wire]
            checked = _check(value, kind)
            if checked is _INVALID:
                log.warning("ignoring setting %s=%r: expected %s", wire, value, kind)
                continue
            changes[field] = checked
        feats = options.get("features")
        if isinstance(feats, dict):
            changes["features"] = dataclasses.replace(
                self.features,
                **{
                    attr: bool(feats[key])
                    for key, attr in (
                        ("inlineCompletion", "inline_completion"),
                        ("codeActions", "code_actions"),
                        ("ask", "ask"),
                    )
                    if key in feats
                },
            )
        return dataclasses.replace(self, **changes)


_INVALID = object()

# (wire key, attribute, kind)
_FIELDS = (
    ("gatewayUrl", "gateway_url", "url"),
    ("apiKey", "api_key", "optional str"),
    ("model", "model", "optional str"),
    ("maxTokens", "max_tokens", "positive int"),
    ("temperature", "temperature", "float"),
    ("debounceMs", "debounce_ms", "non-negative int"),
    ("contextBudgetTokens", "context_budget_tokens", "positive int"),
    ("adaptiveDebounce", "adaptive_debounce", "bool"),
    ("completionTimeoutMs", "completion_timeout_ms", "positive int"),
    ("chatMaxTokens", "chat_max_tokens", "positive int"),
    ("chatTimeoutMs", "chat_timeout_ms", "positive int"),
    ("resolveTimeoutMs", "resolve_timeout_ms", "non-negative int"),
)


def _check(value: Any, kind: str) -> Any:
    if kind == "url":
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return value
        return _INVALID
    if kind == "optional str":
        if value is None or value == "":
            return None
        return value if isinstance(value, str) else _INVALID
    if kind == "bool":
        return value if isinstance(value, bool) else _INVALID
    if kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        return _INVALID
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _INVALID
    number = int(value)
    if kind == "positive int" and number <= 0:
        return _INVALID
    if kind == "non-negative int" and number < 0:
        return _INVALID
    return number


def to_plain(value: Any) -> Any:
    """JSON-like data from what pygls hands over for untyped (``LSPAny``/custom) params:
    namedtuple-like objects become dicts, recursively."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if hasattr(value, "_asdict"):
        return {k: to_plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def unwrap(payload: Any) -> dict[str, Any]:
    """The settings object inside a configuration payload (any of the accepted shapes)."""
    payload = to_plain(payload)
    if not isinstance(payload, dict):
        return {}
    if isinstance(payload.get("settings"), dict):
        payload = payload["settings"]
    if isinstance(payload.get("ossSidecar"), dict):
        payload = payload["ossSidecar"]
    return payload
