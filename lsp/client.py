"""Async client of the gateway's OpenAI-compatible HTTP API, with cancellation.

Every call is a coroutine; cancelling the task that awaits it closes the HTTP response *and
its connection* (``resp.close()``), which is what tells the gateway to abort the engine
request. Completions are requested as streams for the same reason: a streaming handler notices
a closed connection at its next chunk, whatever the server framework does with idle sockets.

Errors never escape as anything but ``GatewayError``, each named for what happened: nothing
listens at the URL (``unreachable``), a timeout, a refused request (4xx), a gateway failure
(5xx), a dropped connection, or an answer that is not what the API promises.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import socket
import time
from typing import Any, AsyncIterator, Callable

import aiohttp

log = logging.getLogger(__name__)


class GatewayError(Exception):
    """The gateway could not answer. ``unreachable`` is True only when nothing listens at the
    URL (connection refused, unknown host): the one case where starting the gateway helps."""

    def __init__(self, message: str, *, unreachable: bool = False, status: int | None = None):
        super().__init__(message)
        self.unreachable = unreachable
        self.status = status


@dataclasses.dataclass
class ModelInfo:
    id: str
    fim_family: str | None = None
    fim_supports_files: bool = False


@dataclasses.dataclass
class CompletionResult:
    text: str
    completion_tokens: int | None = None
    tokens: int = 0  # streamed so far (chunks); the usage count once complete
    finish_reason: str | None = None
    # monotonic timestamps: just before the HTTP call was issued / when the answer was complete
    sent_at: float = 0.0
    answered_at: float = 0.0


@dataclasses.dataclass
class ChatAnswer:
    text: str
    finish_reason: str | None = None
    max_tokens: int = 0  # the limit it was asked with, for telling the user

    @property
    def cut(self) -> bool:
        """Stopped at ``max_tokens``, not where the model meant to end."""
        return self.finish_reason == "length"

    def cut_note(self) -> str:
        return (
            f"the answer was cut at the token limit (chatMaxTokens = {self.max_tokens}); "
            "raise ossSidecar.chatMaxTokens for longer answers"
        )


class GatewayClient:
    def __init__(self, base_url: str, api_key: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self._session: aiohttp.ClientSession | None = None
        self._model: ModelInfo | None = None

    @property
    def model(self) -> ModelInfo | None:
        """What ``/v1/models`` said last time it was asked; None before the first answer."""
        return self._model

    # -- plumbing -----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # A fresh loopback connection per request (~0.1 ms): no stale keep-alive socket
                # can fail a request, and closing one always means "abort" to the gateway.
                connector=aiohttp.TCPConnector(limit=16, force_close=True),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def _error_from(self, resp: aiohttp.ClientResponse) -> GatewayError:
        try:
            body = await resp.json(content_type=None)
            message = body["error"]["message"]
        except Exception:
            message = resp.reason or "error"
        if resp.status < 500:
            what = f"gateway refused the request ({resp.status})"
        else:
            what = f"gateway failed ({resp.status})"
        return GatewayError(f"{what}: {message}", status=resp.status)

    def _failure(self, exc: BaseException, waited: str) -> GatewayError:
        """A transport-level exception as the error it really is.

        Order matters: in Python 3.11 ``asyncio.TimeoutError`` is ``TimeoutError``, an
        ``OSError``, and aiohttp's timeouts are also ``ClientConnectionError``s."""
        if isinstance(exc, GatewayError):
            return exc
        if isinstance(exc, asyncio.TimeoutError):
            return GatewayError(f"gateway at {self.base_url} did not answer within {waited}")
        if isinstance(exc, aiohttp.ClientConnectorError):
            cause = exc.os_error
            if isinstance(cause, ConnectionRefusedError):
                return GatewayError(
                    f"gateway unreachable at {self.base_url}: nothing listens there "
                    "(connection refused)",
                    unreachable=True,
                )
            return GatewayError(
                f"cannot connect to the gateway at {self.base_url}: {cause or exc}",
                unreachable=isinstance(cause, socket.gaierror),
            )
        if isinstance(exc, (aiohttp.ClientConnectionError, ConnectionError, OSError)):
            return GatewayError(
                f"connection to the gateway at {self.base_url} was lost: "
                f"{exc or type(exc).__name__}"
            )
        return GatewayError(f"bad answer from the gateway at {self.base_url}: {exc}")

    async def _stream(
        self, path: str, body: dict[str, Any], timeout_s: float
    ) -> AsyncIterator[dict[str, Any]]:
        """POST ``body`` with ``stream: true`` and yield each SSE event's JSON.

        Cancelling the consumer (or leaving the loop early) closes the connection.
        """
        url = self.base_url + path
        resp: aiohttp.ClientResponse | None = None
        try:
            for attempt in (1, 2):
                try:
                    resp = await self._http().post(
                        url,
                        json=body,
                        headers=self._headers(),
                        timeout=aiohttp.ClientTimeout(total=timeout_s, sock_connect=5),
                    )
                    break
                except aiohttp.ServerDisconnectedError:
                    # closed before any answer (seen once on a loaded machine): nothing ran
                    # yet, so one retry is safe
                    if attempt == 2:
                        raise
            if resp.status != 200:
                raise await self._error_from(resp)
            buffer = b""
            async for data in resp.content.iter_any():
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    line = line.strip()
                    if not line.startswith(b"data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        return
                    event = json.loads(payload)
                    if isinstance(event, dict) and "error" in event:
                        err = event["error"]
                        msg = err.get("message") if isinstance(err, dict) else str(err)
                        raise GatewayError(f"gateway error mid-stream: {msg}")
                    yield event
        except GatewayError:
            raise
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise self._failure(exc, f"{timeout_s:g} s") from exc
        finally:
            if resp is not None:
                # close(), not release(): an unfinished stream must drop the connection so the
                # gateway sees the client go away and aborts the engine request.
                resp.close()

    # -- API ------------------------------------------------------------------------------------

    async def model_info(self, refresh: bool = False) -> ModelInfo:
        if self._model is not None and not refresh:
            return self._model
        try:
            for attempt in (1, 2):
                try:
                    async with self._http().get(
                        self.base_url + "/models",
                        headers=self._headers(),
                        timeout=aiohttp.ClientTimeout(total=5),
                    ) as resp:
                        if resp.status != 200:
                            raise await self._error_from(resp)
                        body = await resp.json(content_type=None)
                    break
                except aiohttp.ServerDisconnectedError:
                    if attempt == 2:
                        raise
        except GatewayError:
            raise
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise self._failure(exc, "5 s (listing its models)") from exc
        data = body.get("data") or [{}]
        first = data[0] if isinstance(data[0], dict) else {}
        self._model = ModelInfo(
            id=str(first.get("id") or "default"),
            fim_family=first.get("fim_family"),
            fim_supports_files=bool(first.get("fim_supports_files")),
        )
        return self._model

    async def complete(
        self,
        *,
        prompt: str,
        suffix: str | None,
        model: str,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None = None,
        fim_files: list[dict[str, str]] | None = None,
        timeout_s: float = 10.0,
        result: CompletionResult | None = None,
        enough: Callable[[str], bool] | None = None,
    ) -> CompletionResult:
        """``/v1/completions`` (FIM when ``suffix`` is given), streamed and collected.

        Pass ``result`` to watch a request that may be cancelled: its ``tokens`` counts the
        streamed chunks (one token each) as they arrive, so the tokens a cancelled request cost
        are still known; the final usage count replaces it when the stream completes.
        ``enough(text so far)`` true stops reading: the connection closes and the gateway stops
        generating at its next token (``finish_reason`` stays None).
        """
        body: dict[str, Any] = {
            "model": model,
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if suffix is not None:
            body["suffix"] = suffix
        if stop:
            body["stop"] = stop
        if fim_files:
            body["fim_files"] = fim_files
        if result is None:
            result = CompletionResult(text="")
        result.sent_at = time.monotonic()
        pieces: list[str] = []
        # aclosing: a stream left early (enough) drops its connection now, not when collected
        async with contextlib.aclosing(self._stream("/completions", body, timeout_s)) as events:
            async for event in events:
                stopped = False
                for choice in event.get("choices") or ():
                    piece = choice.get("text") or ""
                    if piece:
                        pieces.append(piece)
                        result.tokens += 1
                        stopped = enough is not None and enough("".join(pieces))
                    if choice.get("finish_reason"):
                        result.finish_reason = choice["finish_reason"]
                if stopped:
                    break
                usage = event.get("usage")
                if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
                    result.completion_tokens = int(usage["completion_tokens"])
        if result.completion_tokens is not None:
            result.tokens = result.completion_tokens
        result.text = "".join(pieces)
        result.answered_at = time.monotonic()
        return result

    async def chat_stream(
        self,
        messages: list[dict[str, str]],
        *,
        model: str,
        max_tokens: int,
        temperature: float,
        timeout_s: float = 120.0,
        finish: dict[str, str] | None = None,
    ) -> AsyncIterator[str]:
        """``/v1/chat/completions`` streamed: yields content pieces; the choice's
        ``finish_reason`` goes in ``finish["reason"]`` (``"length"``: cut at ``max_tokens``)."""
        body = {
            "model": model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            # trim old history to the gateway's window instead of failing on long contexts
            "truncate_prompt_tokens": -1,
        }
        async for event in self._stream("/chat/completions", body, timeout_s):
            for choice in event.get("choices") or ():
                piece = (choice.get("delta") or {}).get("content")
                if choice.get("finish_reason") and finish is not None:
                    finish["reason"] = choice["finish_reason"]
                if piece:
                    yield piece
