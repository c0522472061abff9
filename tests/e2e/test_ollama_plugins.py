"""Editor plugins that speak Ollama's API, pointed at the gateway as docs/CLIENTS.md's "Use it from
other editor plugins" says: each test replays the requests the plugin builds (body fields and
headers taken from its public source) and reads the answer the way the plugin's own parser
reads it. The gateway of this module also listens on a second port (server.ollama_port), as a
user who keeps the plugin's Ollama default port would run it.

Sources (paths in each project's public repository):
- twinny (twinnydotdev/twinny, master of 2025-08-07): src/extension/provider-options.ts
  (createStreamRequestBodyFim: the body per provider), src/extension/providers/completion.ts
  (buildFimRequest: POST to apiHostname:apiPort + apiPath; onData: single-line end and abort),
  src/extension/fim-templates.ts (getFimPrompt: the model-name template, <PRE>/<SUF>/<MID> for a
  name it does not know; getStopWords), src/extension/utils.ts (getFimDataFromProvider: `response`
  for ollama/openai-compatible, `content` for llamacpp; safeParseJsonResponse),
  src/extension/llm.ts (llm: splits the body on "\\n", aborts with an AbortController),
  src/extension/base.ts (getProviderBaseUrl: chat baseURL = host:port + apiPath) and
  src/extension/chat.ts (TokenJS chat.completions.create: the OpenAI SDK appends
  /chat/completions; getStreamOptions: messages, model, stream), package.json (defaults:
  numPredictFim 512, temperature 0.2, keepAlive "5m", multilineCompletionsEnabled true).
- Continue (continuedev/continue): core/llm/llms/Ollama.ts (ensureModelInfo: POST api/show with
  {name}, reads `parameters` and `.Suffix` in `template`; _getModelFileParams: the options;
  _streamChat, _streamComplete, _streamFim: the bodies and NDJSON parsing; listModels: api/tags),
  core/autocomplete/generation/CompletionStreamer.ts (streamFim when supportsFim(), else
  streamComplete with raw: true).
- CodeGPT for JetBrains (carlrobertoh/ProxyAI): src/main/kotlin/ee/carlrobert/codegpt/agent/
  clients/CodeGPTOllamaClient.kt (getCodeCompletion: POST $host/api/generate, raw: true, stream:
  false, suffix unless fimOverride), CodeCompletionSupport.kt (MAX_COMPLETION_TOKENS 128,
  parseOllamaCompletion: `response`).
"""
from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import AsyncIterator, Optional

import aiohttp
import pytest

MODEL = "SmolLM2-135M-Instruct.Q4_1"
PREFIX = "def add(a, b):\n    "
SUFFIX = "\n\nprint(add(1, 2))\n"
TIMEOUT = aiohttp.ClientTimeout(total=240)
pytestmark = pytest.mark.timeout(300)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gw(start_gateway):
    port = free_port()
    gateway = start_gateway("--ollama-port", str(port))
    gateway.ollama_port = port
    return gateway


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


async def lines(resp: aiohttp.ClientResponse) -> AsyncIterator[str]:
    buffer = ""
    async for chunk in resp.content.iter_any():
        buffer += chunk.decode("utf-8")
        while "\n" in buffer:
            line, buffer = buffer.split("\n", 1)
            yield line
    if buffer:
        yield buffer


async def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


# --------------------------------------------------------------------------------------------
# twinny
# --------------------------------------------------------------------------------------------

def twinny_url(gw, api_path: str, port: Optional[int] = None) -> str:
    # buildFimRequest / llm(): `${apiProtocol}://${apiHostname}:${apiPort}${apiPath}`
    return f"http://127.0.0.1:{port or gw.port}{api_path}"


def twinny_fim_prompt(language: str, uri: str) -> str:
    # getFimPrompt(modelName, "automatic", ...): no known family in the model's name -> the
    # default (CodeLlama) template; fileContextEnabled false; getPromptHeader for Python.
    heading = f"\n# Language: Python ({language}) \n# File uri: {uri} ({language}) \n"
    return f"<PRE> \n{heading}{PREFIX} <SUF> {SUFFIX} <MID>"


def twinny_fim_body(provider: str, prompt: str) -> dict:
    # createStreamRequestBodyFim(provider, prompt, {model, numPredictFim: 512, temperature: 0.2,
    # keepAlive: "5m"})
    if provider in ("ollama", "openai-compatible"):
        return {"model": MODEL, "prompt": prompt, "stream": True, "keep_alive": "5m",
                "options": {"temperature": 0.2, "num_predict": 512}}
    assert provider == "llamacpp"
    return {"prompt": prompt, "stream": True, "temperature": 0.2, "max_tokens": 512}


def twinny_parse(line: str) -> Optional[dict]:
    # utils.ts safeParseJsonResponse
    try:
        return json.loads(line.split("data:")[1] if line.startswith("data:") else line)
    except (json.JSONDecodeError, IndexError):
        return None


def twinny_fim_data(provider: str, data: Optional[dict]) -> Optional[str]:
    # utils.ts getFimDataFromProvider
    if provider in ("ollama", "openai-compatible"):
        return (data or {}).get("response")
    return (data or {}).get("content")


@pytest.mark.parametrize("provider", ["ollama", "openai-compatible"])
@pytest.mark.parametrize("port", ["gateway", "ollama_port"])
async def test_twinny_fim_stops_and_aborts(gw, http, provider, port):
    """The documented FIM provider: apiPath /api/generate on the gateway's port or on
    server.ollama_port. twinny ends a completion where its own rules say (here: the first
    complete line, as CompletionProvider.onData does with multiline off or outside a block) and
    aborts the request; the abort must reach the engine, not only close a socket."""
    before = gw.stats()
    url = twinny_url(gw, "/api/generate", gw.ollama_port if port == "ollama_port" else None)
    body = twinny_fim_body(provider, twinny_fim_prompt("python", "file:///work/add.py"))
    headers = {"Content-Type": "application/json", "Authorization": ""}
    completion, chunks, done = "", 0, False
    async with http.post(url, json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("application/x-ndjson")
        async for line in lines(resp):
            data = twinny_parse(line)
            piece = twinny_fim_data(provider, data)
            if piece is None:
                continue
            completion += piece
            chunks += 1
            done = bool(data.get("done"))
            # onData: MIN_COMPLETION_CHUNKS (2) and a line break in the trimmed-start text -> abort()
            if chunks >= 2 and "\n" in completion.lstrip():
                break
    assert completion.strip(), "twinny shows nothing: no `response` text arrived"
    print(f"twinny kept {completion!r} after {chunks} chunks; model done first: {done}")
    if done:
        return  # the model ended the text before the first line did: nothing left to abort

    def released():
        s = gw.stats()
        c = s["engine_counters"]
        return s if c["requests_processing"] == 0 and c["requests_aborted_total"] > before["engine_counters"]["requests_aborted_total"] else None

    stats = await wait_for(released)
    decodes = stats["engine_counters"]["n_decode_total"] - before["engine_counters"]["n_decode_total"]
    assert decodes < chunks + 60, f"the engine ran on for {decodes} decodes after twinny left (512 asked)"
    assert stats["gateway_counters"]["requests_aborted_total"] == before["gateway_counters"]["requests_aborted_total"] + 1


async def test_twinny_lmstudio_fim_on_v1_completions(gw, http):
    """The OpenAI-shaped alternative: provider lmstudio, apiPath /v1/completions; its body has
    max_tokens, and getFimDataFromProvider's default branch reads choices[0].text."""
    prompt = f"<fim_prefix>{PREFIX}<fim_suffix>{SUFFIX}<fim_middle>"  # fimTemplate "starcoder"
    body = {"model": MODEL, "prompt": prompt, "stream": True, "temperature": 0.2, "max_tokens": 24}
    completion = ""
    async with http.post(twinny_url(gw, "/v1/completions"), json=body, headers={"Authorization": ""}) as resp:
        assert resp.status == 200, await resp.text()
        async for line in lines(resp):
            data = twinny_parse(line)
            if data and data.get("choices"):
                completion += data["choices"][0].get("text") or ""
    assert completion.strip()


async def test_twinny_llamacpp_provider_is_refused_at_once(gw, http):
    """twinny's llamacpp provider speaks llama.cpp's /completion (reads `content`): pointed at
    the gateway's Ollama path it gets an immediate 400 naming the field (twinny shows "Server
    responded with status code: 400") instead of an empty, never-ending generation. README
    says to use the ollama provider."""
    before = gw.stats()["gateway_counters"]["requests_total"]
    body = twinny_fim_body("llamacpp", twinny_fim_prompt("python", "file:///work/add.py"))
    async with http.post(twinny_url(gw, "/api/generate"), json=body) as resp:
        assert resp.status == 400
        assert (await resp.json()) == {"error": "unknown field: temperature"}
    assert gw.stats()["gateway_counters"]["requests_total"] == before  # nothing reached the engine


async def test_twinny_chat_with_v1_api_path(gw, http):
    """Chat (ollama or openai-compatible provider): TokenJS gets baseURL = host:port + apiPath and
    the OpenAI SDK appends /chat/completions, so apiPath is "/v1" (getStreamOptions: messages
    with text parts from buildConversation, model, stream)."""
    base = twinny_url(gw, "/v1")
    body = {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "You are a helpful coding assistant."}]},
            {"role": "user", "content": [{"type": "text", "text": "Say hi."}]},
        ],
        "model": MODEL,
        "stream": True,
        "max_tokens": 16,  # not twinny's (it sends none); keeps this test short on a CPU
    }
    text = ""
    async with http.post(base + "/chat/completions", json=body, headers={"Authorization": "Bearer "}) as resp:
        assert resp.status == 200, await resp.text()
        async for line in lines(resp):
            if line.startswith("data: ") and line != "data: [DONE]":
                choices = json.loads(line[6:]).get("choices") or [{}]
                text += (choices[0].get("delta") or {}).get("content") or ""
    assert text.strip()
    # The setting the README used to give: twinny appends the path itself.
    async with http.post(twinny_url(gw, "/v1/chat/completions") + "/chat/completions", json=body) as resp:
        assert resp.status == 404


# --------------------------------------------------------------------------------------------
# Continue, provider "ollama"
# --------------------------------------------------------------------------------------------

def continue_options(max_tokens: int, stop: Optional[list[str]] = None) -> dict:
    # _getModelFileParams; undefined values vanish in JSON.stringify. num_ctx: the 8192 default.
    options = {"temperature": 0.01, "num_predict": max_tokens, "num_ctx": 8192}
    if stop:
        options["stop"] = stop
    return options


async def continue_ndjson(resp: aiohttp.ClientResponse, field: str) -> str:
    # _streamChat/_streamComplete: split on "\n", JSON.parse each non-empty chunk, throw on "error"
    assert resp.status == 200, await resp.text()
    out = ""
    async for line in lines(resp):
        if line.strip():
            j = json.loads(line)
            assert "error" not in j, j
            out += (j["message"]["content"] if field == "message" else j.get("response") or "")
    return out


async def test_continue_ollama_provider(gw, http):
    api_base = f"http://127.0.0.1:{gw.port}/"  # apiBase; getEndpoint() = new URL("api/...", apiBase)
    headers = {"Content-Type": "application/json"}
    async with http.get(api_base + "api/tags", headers=headers) as resp:  # listModels (AUTODETECT)
        # The embedding model is listed too (Ollama lists its embedding models the same way).
        assert [m["name"] for m in (await resp.json())["models"]] == [f"{MODEL}:latest", "all-MiniLM-L6-v2:latest"]
    async with http.post(api_base + "api/show", json={"name": MODEL}, headers=headers) as resp:
        shown = await resp.json()
    # ensureModelInfo: num_ctx from `parameters`; fimSupported = template includes ".Suffix"
    assert resp.status == 200 and shown["parameters"].split() == ["num_ctx", "8192"]
    fim_supported = ".Suffix" in shown["template"]
    assert fim_supported is False  # SmolLM2 has no FIM tokens: Continue templates FIM itself

    chat = {"model": MODEL, "messages": [{"role": "user", "content": "Say hi."}],
            "options": continue_options(12), "keep_alive": 1800, "stream": True}
    async with http.post(api_base + "api/chat", json=chat, headers=headers) as resp:
        assert (await continue_ndjson(resp, "message")).strip()

    # Autocomplete without server FIM: streamComplete(prompt, {raw: true}) with the template's
    # stop tokens (stableCodeFimTemplate for an unknown model name).
    stops = ["<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>", "<|endoftext|>", "</fim_middle>", "</code>"]
    complete = {"model": MODEL, "prompt": f"<fim_prefix>{PREFIX}<fim_suffix>{SUFFIX}<fim_middle>", "raw": True,
                "options": continue_options(24, stops), "keep_alive": 1800, "stream": True}
    async with http.post(api_base + "api/generate", json=complete, headers=headers) as resp:
        text = await continue_ndjson(resp, "response")
    assert not any(s in text for s in stops)

    # With a FIM model, streamFim(prefix, suffix): the gateway renders FIM from `suffix`.
    fim = {"model": MODEL, "prompt": PREFIX, "suffix": SUFFIX, "options": continue_options(24),
           "keep_alive": 1800, "stream": True}
    async with http.post(api_base + "api/generate", json=fim, headers=headers) as resp:
        text = await continue_ndjson(resp, "response")
    assert "print(add(1, 2))" not in text  # the fallback stops at the suffix's first line


# --------------------------------------------------------------------------------------------
# CodeGPT (ProxyAI) for JetBrains, provider "Ollama (Local)"
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fim_override", [True, False])
async def test_codegpt_ollama_code_completion(gw, http, fim_override):
    # getCodeCompletion: fimOverride (the default) builds the prompt with the chosen template
    # (CODE_QWEN_2_5) and adds its stop tokens; otherwise prefix + suffix, and the server does FIM.
    host = f"http://127.0.0.1:{gw.ollama_port}"  # settings host, default http://localhost:11434
    qwen_stops = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]
    if fim_override:
        prompt = f"<|fim_prefix|>{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>"
        body = {"model": MODEL, "prompt": prompt, "stream": False, "raw": True,
                "options": {"stop": qwen_stops, "num_predict": 128, "temperature": 0.4}}
    else:
        body = {"model": MODEL, "prompt": PREFIX, "suffix": SUFFIX, "stream": False, "raw": True,
                "options": {"num_predict": 128, "temperature": 0.4}}
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    async with http.post(host + "/api/generate", json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        payload = await resp.json()
    text = payload["response"]  # parseOllamaCompletion
    assert payload["done"] is True
    if fim_override:
        assert not any(s in text for s in qwen_stops)
    else:
        assert "print(add(1, 2))" not in text
