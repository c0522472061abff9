"""Per-connection state shared by the handlers: settings, gateway client, health reporting.

Health: the first gateway failure after a success shows one ``window/showMessage`` and sends
``ossSidecar/status {"state": "unreachable"}`` (that notification only to clients that opted in
with the experimental capability in ``protocol.py``: others would warn about an unknown
notification); later failures only log. The next success sends
``ready`` again (and an info message), so a gateway that comes back is picked up without
restarting anything.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from lsprotocol import types

from .client import ChatAnswer, GatewayClient, GatewayError
from .config import Settings
from .protocol import STATUS, StatusParams

log = logging.getLogger(__name__)


class Session:
    def __init__(
        self,
        notify: Callable[[str, Any], None],
        show_message: Callable[[types.ShowMessageParams], None],
    ):
        self._notify = notify
        self._show_message = show_message
        self.settings = Settings()
        self.client = GatewayClient(self.settings.base_url)
        self.gateway_down = False
        self._thinking = 0
        # set at initialize from the client's capabilities (protocol.wants_status)
        self.status_notifications = False

    def configure(self, payload: Any) -> Settings:
        """Apply a configuration payload; a new URL or key gets a new client."""
        old = self.settings
        self.settings = old.merged(payload)
        if (self.settings.base_url, self.settings.api_key) != (self.client.base_url, self.client.api_key):
            stale = self.client
            self.client = GatewayClient(self.settings.base_url, self.settings.api_key)
            self.gateway_down = False
            try:
                asyncio.get_running_loop().create_task(stale.close())
            except RuntimeError:
                pass
        return self.settings

    # -- status -----------------------------------------------------------------------------

    def status(self, state: str, message: str | None = None) -> None:
        if not self.status_notifications:
            return
        params: StatusParams = {"state": state}  # type: ignore[typeddict-item]
        if message:
            params["message"] = message
        try:
            self._notify(STATUS, params)
        except Exception:  # a closed transport must not break a handler
            log.debug("could not send status", exc_info=True)

    def begin(self) -> None:
        self._thinking += 1
        if self._thinking == 1:
            self.status("thinking")

    def end(self) -> None:
        self._thinking = max(0, self._thinking - 1)
        if self._thinking == 0 and not self.gateway_down:
            self.status("ready")

    def gateway_ok(self) -> None:
        if self.gateway_down:
            self.gateway_down = False
            log.info("gateway reachable again at %s", self.settings.base_url)
            self._show(types.MessageType.Info, f"oss-sidecar: gateway back at {self.settings.gateway_url}")
            self.status("ready")

    def gateway_failed(self, exc: GatewayError) -> None:
        log.warning("gateway request failed: %s", exc)
        if not self.gateway_down:
            self.gateway_down = True
            hint = (
                " Start it with `oss-sidecar serve` or set gatewayUrl."
                if exc.unreachable
                else ""
            )
            self._show(types.MessageType.Warning, f"oss-sidecar: {exc}.{hint}")
            self.status("unreachable", str(exc))

    async def chat(
        self, messages: list[dict[str, str]], on_piece: Callable[[str], None] | None = None
    ) -> ChatAnswer | None:
        """One streamed chat answer with the configured model and limits; None if the gateway
        failed (reported through the health logic above). Cancelling the caller closes the stream."""
        settings = self.settings
        pieces: list[str] = []
        finish: dict[str, str] = {}
        self.begin()
        try:
            info = await self.client.model_info()
            async for piece in self.client.chat_stream(
                messages,
                model=settings.model or info.id,
                max_tokens=settings.chat_max_tokens,
                temperature=settings.temperature,
                timeout_s=settings.chat_timeout_ms / 1000.0,
                finish=finish,
            ):
                pieces.append(piece)
                if on_piece is not None:
                    on_piece(piece)
        except GatewayError as exc:
            self.gateway_failed(exc)
            return None
        finally:
            self.end()
        self.gateway_ok()
        return ChatAnswer("".join(pieces), finish.get("reason"), settings.chat_max_tokens)

    def _show(self, kind: types.MessageType, message: str) -> None:
        try:
            self._show_message(types.ShowMessageParams(type=kind, message=message))
        except Exception:
            log.debug("could not show message", exc_info=True)
