"""A test double of an OpenAI-compatible upstream server (vLLM's shape) that misbehaves on
request: faults no real server produces on purpose. Runs on loopback in a thread of the test
process, so a gateway subprocess can use it as its `upstream` engine.

The last user message names the behaviour:

- `good`: three chunks, finish_reason "stop", usage, [DONE];
- `malformed-after-one`: one good chunk, then a chunk whose `choices` is a string;
- `bad-logprob`: a chunk whose logprob is not a number;
- `busy`: 429 with Retry-After: 7;
- `broken`: 500;
- `refused-key`: 401 (the gateway's key for it is wrong: not the client's fault);
- `flood`: text without end, whatever max_tokens says (until the gateway hangs up or
  FLOOD_LIMIT bytes are out);
- `huge-event`: one event of 4 MiB.
"""
from __future__ import annotations

import asyncio
import json
import threading
from typing import Optional

from aiohttp import web

MODEL = "double-model"
FLOOD_LIMIT = 200 * 1024 * 1024


def _chunk(text: str = "", finish: Optional[str] = None, **extra) -> bytes:
    choice = {"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish, **extra}
    return b"data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [choice]}).encode() + b"\n\n"


class MisbehavingUpstream:
    def __init__(self, user: str = "", password: str = ""):
        self.user, self.password = user, password
        self.authorizations: list[Optional[str]] = []  # the Authorization header of each generation request
        self.flood_bytes = 0  # how much of the flood went out before the gateway hung up
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: Optional[web.AppRunner] = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def url(self, with_credentials: bool = False) -> str:
        auth = f"{self.user}:{self.password}@" if with_credentials and self.user else ""
        return f"http://{auth}127.0.0.1:{self.port}"

    def __enter__(self) -> "MisbehavingUpstream":
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the upstream double did not start")
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/tokenize", self._tokenize)
        app.router.add_post("/detokenize", self._detokenize)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        self._ready.set()
        self._loop.run_forever()

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model", "max_model_len": 2048}]})

    async def _tokenize(self, request: web.Request) -> web.Response:
        body = await request.json()
        text = body.get("prompt") or "".join(str(m.get("content")) for m in body.get("messages") or ())
        tokens = [ord(c) for c in text] or [32]
        out = {"count": len(tokens), "tokens": tokens, "max_model_len": 2048}
        if body.get("return_token_strs"):
            out["token_strs"] = [chr(t) for t in tokens]
        return web.json_response(out)

    async def _detokenize(self, request: web.Request) -> web.Response:
        return web.json_response({"prompt": "".join(chr(t) for t in (await request.json())["tokens"])})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.authorizations.append(request.headers.get("Authorization"))
        body = await request.json()
        behaviour = body["messages"][-1]["content"]
        if behaviour == "busy":
            return web.json_response({"error": {"message": "too many requests"}}, status=429, headers={"Retry-After": "7"})
        if behaviour == "broken":
            return web.json_response({"error": {"message": "internal error"}}, status=500)
        if behaviour == "refused-key":
            return web.json_response({"error": {"message": "invalid api key"}}, status=401)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if behaviour == "good":
            for piece in ("one", " two", " three"):
                await response.write(_chunk(piece))
            await response.write(_chunk(finish="stop"))
            usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
            await response.write(b"data: " + json.dumps({"choices": [], "usage": usage}).encode() + b"\n\n")
        elif behaviour == "malformed-after-one":
            await response.write(_chunk("Hello"))
            await response.write(b'data: {"choices": "not a list"}\n\n')
        elif behaviour == "bad-logprob":
            await response.write(_chunk("Hi", logprobs={"content": [{"token": "Hi", "logprob": "not a number"}]}))
        elif behaviour == "huge-event":
            await response.write(_chunk("x" * (4 * 1024 * 1024)))
        elif behaviour == "flood":
            piece = _chunk("flood " * 170)  # about 1 KiB
            try:
                while self.flood_bytes < FLOOD_LIMIT:
                    await response.write(piece)
                    self.flood_bytes += len(piece)
            except (ConnectionError, RuntimeError):
                return response  # the gateway hung up: what it should do
        await response.write(b"data: [DONE]\n\n")
        return response
