"""Other editor plugins pointed at the gateway: each test replays the request one plugin sends
(headers, body fields, stream options, taken from its public source) against the real gateway
and reads the answer the way that plugin's own parser reads it.

Sources (paths in each project's public repository):
- Continue (continuedev/continue): core/llm/llms/OpenAI.ts (_streamChat, _legacystreamComplete),
  core/llm/openaiTypeConverters.ts (toChatBody), core/llm/stream.ts (streamSse),
  core/llm/llms/Vllm.ts (supportsFim() false, /models autodetect),
  core/autocomplete/generation/CompletionStreamer.ts (raw prompt when the provider has no FIM),
  core/autocomplete/templating/AutocompleteTemplate.ts (stableCodeFimTemplate, the default).
- GitHub Copilot Chat, bring-your-own-key "OpenAI Compatible" models (microsoft/vscode-copilot-chat):
  src/extension/byok/vscode-node/customOAIProvider.ts (resolveCustomOAIUrl),
  src/extension/byok/node/openAIEndpoint.ts (interceptBody: drops max_tokens, adds
  stream_options.include_usage; getExtraHeaders), src/platform/networking/common/networking.ts
  (createCapiRequestBody, networkRequest headers), src/platform/networking/node/stream.ts (SSEProcessor).
- CodeGPT for JetBrains (carlrobertoh/CodeGPT, now ProxyAI), "Custom OpenAI" provider:
  src/main/kotlin/ee/carlrobert/codegpt/settings/service/custom/template/
  CustomServiceChatCompletionTemplate.kt and CustomServiceCodeCompletionTemplate.kt.
(twinny, Continue's ollama provider and CodeGPT's Ollama provider: tests/e2e/test_ollama_plugins.py.)
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Optional

import aiohttp
import pytest

pytestmark = pytest.mark.timeout(300)

CODE_PREFIX = "def add(a, b):\n    "
CODE_SUFFIX = "\n\nprint(add(1, 2))\n"
# What the gateway guarantees about a completion: none of the stop sequences in force appears
# in it. (A client-templated FIM prompt sent to a model without FIM tokens, like the embedded
# SmolLM2, is plain text to that model, which may answer with look-alike markup such as
# "<fim_ending>": only the stop list the client sent is the gateway's to enforce.)
FALLBACK_STOP = ["print(add(1, 2))"]  # the gateway's prefix-only FIM fallback stops at the suffix's first line
TIMEOUT = aiohttp.ClientTimeout(total=120)


@pytest.fixture(scope="session")
async def http():
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


@pytest.fixture(scope="session")
async def model_id(gateway, http) -> str:
    async with http.get(gateway.base_url + "/models") as resp:
        assert resp.status == 200
        return (await resp.json())["data"][0]["id"]


async def lines(resp: aiohttp.ClientResponse) -> AsyncIterator[str]:
    """Raw text lines of a response body, as a client that splits on \\n sees them."""
    buffer = ""
    async for chunk in resp.content.iter_any():
        buffer += chunk.decode("utf-8")
        while "\n" in buffer:
            line, buffer = buffer.split("\n", 1)
            yield line
    if buffer:
        yield buffer


def assert_clean(text: str, stops: list[str]) -> None:
    for stop in stops:
        assert stop not in text, f"stop sequence {stop!r} leaked into the completion: {text!r}"


# --------------------------------------------------------------------------------------------
# Continue
# --------------------------------------------------------------------------------------------

async def continue_stream_sse(resp: aiohttp.ClientResponse) -> tuple[list[dict], str]:
    """core/llm/stream.ts streamSse: non-200 throws; "data: [DONE]" ends; "data:" lines are JSON
    (an "error" member throws); a ": ping" line also ends the stream; other lines are skipped.
    Returns the events and why reading stopped."""
    if resp.status != 200:
        raise AssertionError(f"Continue throws on HTTP {resp.status}: {await resp.text()}")
    events: list[dict] = []
    async for line in lines(resp):
        if line.startswith("data: [DONE]"):
            return events, "done"
        if line.startswith("data:"):
            raw = line[len("data: "):] if line.startswith("data: ") else line[len("data:"):]
            data = json.loads(raw)
            assert not data.get("error"), f"Continue throws 'Error streaming response': {data}"
            events.append(data)
        elif line.startswith(": ping"):
            return events, "ping"
    return events, "eof"


def continue_headers() -> dict[str, str]:
    # OpenAI._getHeaders(); with no apiKey configured the template literal sends "Bearer undefined".
    return {"Content-Type": "application/json", "Authorization": "Bearer undefined", "api-key": ""}


async def test_continue_chat_stream(gateway, http, model_id):
    # config.yaml: provider: vllm (or openai), apiBase: http://127.0.0.1:8000/v1 -> _streamChat:
    # toChatBody(); JSON.stringify drops the undefined top_p / penalties / prediction.
    body = {
        "messages": [
            {"role": "system", "content": "You are a helpful coding assistant."},
            {"role": "user", "content": "Say hello in one short sentence."},
        ],
        "model": model_id,
        "max_tokens": 24,
        "temperature": 0.0,
        "stream": True,
        "stop": [],
    }
    async with http.post(gateway.base_url + "/chat/completions", json=body, headers=continue_headers()) as resp:
        events, ended = await continue_stream_sse(resp)
    assert ended != "ping", "a ': ping' keep-alive ends Continue's stream before the answer"
    # fromChatCompletionChunk: choices[0].delta.content
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e.get("choices"))
    assert text.strip(), events


async def test_continue_autocomplete_raw_fim_prompt(gateway, http, model_id):
    # Vllm.supportsFim() is false, so CompletionStreamer renders the template client-side
    # (stableCodeFimTemplate, the default for unknown model names) and calls streamComplete with
    # raw: true -> OpenAI._legacystreamComplete: POST {apiBase}completions with _convertArgs() body,
    # prompt set, messages undefined, stream true.
    prompt = f"<fim_prefix>{CODE_PREFIX}<fim_suffix>{CODE_SUFFIX}<fim_middle>"
    body = {
        "model": model_id,
        "max_tokens": 24,
        "temperature": 0.01,
        "stream": True,
        "stop": ["<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>", "<|endoftext|>", "</fim_middle>", "</code>"],
        "prompt": prompt,
    }
    async with http.post(gateway.base_url + "/completions", json=body, headers=continue_headers()) as resp:
        events, ended = await continue_stream_sse(resp)
    assert ended != "ping"
    # _legacystreamComplete yields value.choices?.[0]?.text when finish_reason !== "eos"
    text = "".join(
        e["choices"][0]["text"] for e in events if e.get("choices") and e["choices"][0].get("text") and e.get("finish_reason") != "eos"
    )
    assert_clean(text, body["stop"])
    assert len(events) >= 1


async def test_continue_model_autodetect(gateway, http):
    # Vllm._setupCompletionOptions (model: AUTODETECT): GET {apiBase}models, json.data[0].id and
    # Number.parseInt(data.max_model_len) become the model and the context length.
    async with http.get(gateway.base_url + "/models", headers=continue_headers()) as resp:
        assert resp.status == 200
        data = (await resp.json())["data"][0]
    assert isinstance(data["id"], str) and data["id"]
    assert int(data["max_model_len"]) > 0


# --------------------------------------------------------------------------------------------
# GitHub Copilot Chat: bring-your-own-key "OpenAI Compatible" model
# --------------------------------------------------------------------------------------------

def resolve_custom_oai_url(url: str) -> str:
    """customOAIProvider.ts resolveCustomOAIUrl."""
    if "/responses" in url or "/chat/completions" in url:
        return url
    if url.endswith("/"):
        url = url[:-1]
    if re.search(r"/v\d+$", url):
        return url + "/chat/completions"
    return url + "/v1/chat/completions"


async def copilot_sse(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    """SSEProcessor.processSSEInner: lines starting with ':' are comments; 'data: [DONE]' finishes;
    unparsable lines are skipped; json.usage is kept; per choice index, text and delta.content are
    appended (a trailing \\r removed), delta.tool_calls gathered, finish_reason recorded."""
    assert resp.status == 200, await resp.text()
    solutions: dict[int, list[str]] = {}
    finish: dict[int, Optional[str]] = {}
    usage = None
    tool_calls: list[dict] = []
    done = False
    async for line in lines(resp):
        if not line or line.startswith(":"):
            continue
        payload = line[len("data:"):].strip()
        if payload == "[DONE]":
            done = True
            break
        try:
            data = json.loads(payload)
        except json.JSONDecodeError:
            continue
        if data.get("usage"):
            usage = data["usage"]
        if not data.get("choices"):
            assert data.get("error") is None, data
            continue
        for choice in data["choices"]:
            parts = solutions.setdefault(choice["index"], [])
            if choice.get("text"):
                parts.append(choice["text"].rstrip("\r"))
            delta = choice.get("delta") or {}
            if delta.get("content"):
                parts.append(delta["content"].rstrip("\r"))
            tool_calls.extend(delta.get("tool_calls") or [])
            if choice.get("finish_reason"):
                finish[choice["index"]] = choice["finish_reason"]
    return {"text": {i: "".join(p) for i, p in solutions.items()}, "finish": finish, "usage": usage, "done": done, "tool_calls": tool_calls}


def copilot_request(model_id: str, api_key: str, with_tools: bool) -> tuple[dict, dict]:
    request_id = str(uuid.uuid4())
    headers = {
        # networkRequest(): Authorization, X-Request-Id, X-Interaction-Type, OpenAI-Intent,
        # X-GitHub-Api-Version; OpenAIEndpoint.getExtraHeaders(): Content-Type + Bearer key.
        "Authorization": f"Bearer {api_key}",
        "X-Request-Id": request_id,
        "X-Interaction-Type": "conversation-panel",
        "OpenAI-Intent": "conversation-panel",
        "X-GitHub-Api-Version": "2025-05-01",
        "Content-Type": "application/json",
        "User-Agent": "GitHubCopilotChat/0.30.0",
    }
    body: dict[str, Any] = {
        # createCapiRequestBody: messages (rawMessageToCAPI: text parts, trimEnd), model, postOptions
        "messages": [
            {"role": "system", "content": "You are an AI programming assistant."},
            {"role": "user", "content": [{"type": "text", "text": "What does `len([1, 2, 3])` return? Answer briefly."}]},
        ],
        "model": model_id,
        "temperature": 0.1,
        "top_p": 1,
        "n": 1,
        "stream": True,
        # interceptBody(): max_tokens deleted ("defaults to the maximum"), usage requested
        "stream_options": {"include_usage": True},
    }
    if with_tools:
        # agent mode with toolCalling: true; interceptBody() fills in missing parameters
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": "read_file",
                    "description": "Read a file of the workspace.",
                    "parameters": {"type": "object", "properties": {"filePath": {"type": "string"}}, "required": ["filePath"]},
                },
            }
        ]
        body["tool_choice"] = "auto"
    return headers, body


@pytest.mark.parametrize("with_tools", [False, True], ids=["ask", "agent-tools"])
async def test_copilot_byok_chat_stream(gateway, http, model_id, with_tools):
    # settings.json: "github.copilot.chat.customOAIModels": {"<model>": {"url": "http://127.0.0.1:8000/v1", ...}}
    url = resolve_custom_oai_url(gateway.base_url)
    assert url == gateway.base_url + "/chat/completions"
    headers, body = copilot_request(model_id, "oss-sidecar", with_tools)
    # A non-thinking model gets no output limit at all; to bound the test, send the limit the way
    # interceptBody() does for models configured with "thinking": true (max_completion_tokens).
    body["max_completion_tokens"] = 48
    async with http.post(url, json=body, headers=headers) as resp:
        result = await copilot_sse(resp)
    assert result["done"], "Copilot finishes a solution on data: [DONE]"
    assert result["text"].get(0, "").strip() or result["tool_calls"], result
    assert result["finish"].get(0) in {"stop", "length", "tool_calls"}, result
    usage = result["usage"]
    assert usage and usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0, usage


# --------------------------------------------------------------------------------------------
# CodeGPT (JetBrains), "Custom OpenAI" service
# --------------------------------------------------------------------------------------------

def codegpt_headers() -> dict[str, str]:
    # getDefaultHeaders(): Content-Type, X-LLM-Application-Tag; $CUSTOM_SERVICE_API_KEY substituted
    return {"Content-Type": "application/json", "X-LLM-Application-Tag": "codegpt", "Authorization": "Bearer oss-sidecar"}


async def openai_sse_json(resp: aiohttp.ClientResponse) -> list[dict]:
    """The plain OpenAI SSE reading of llm-client's event-source listener: 'data:' events until [DONE]."""
    assert resp.status == 200, await resp.text()
    events = []
    async for line in lines(resp):
        if not line.startswith("data:"):
            continue
        payload = line[len("data:"):].strip()
        if payload == "[DONE]":
            return events
        events.append(json.loads(payload))
    raise AssertionError("stream ended without data: [DONE]")


async def test_codegpt_custom_openai_chat(gateway, http, model_id):
    # CustomServiceChatCompletionTemplate.OPENAI with the URL and model replaced
    body = {
        "stream": True,
        "messages": [{"role": "user", "content": "Name one Python keyword."}],  # $OPENAI_MESSAGES
        "temperature": 0.1,
        "model": model_id,
        "max_tokens": 24,
    }
    async with http.post(gateway.base_url + "/chat/completions", json=body, headers=codegpt_headers()) as resp:
        events = await openai_sse_json(resp)
    text = "".join((e["choices"][0].get("delta") or {}).get("content") or "" for e in events if e.get("choices"))
    assert text.strip()


@pytest.mark.parametrize("template", ["fim_prompt", "prefix_suffix"])
async def test_codegpt_custom_openai_code_completion(gateway, http, model_id, template):
    # CustomServiceCodeCompletionTemplate: getDefaultBodyParams() sends $FIM_PROMPT (the plugin's
    # own FIM template, StarCoder-style here); the OPENAI template sends $PREFIX / $SUFFIX.
    if template == "fim_prompt":
        body = {"stream": True, "prompt": f"<fim_prefix>{CODE_PREFIX}<fim_suffix>{CODE_SUFFIX}<fim_middle>", "temperature": 0.2, "max_tokens": 24, "model": model_id}
    else:
        body = {"stream": True, "prompt": CODE_PREFIX, "suffix": CODE_SUFFIX, "model": model_id, "temperature": 0.2, "max_tokens": 24}
    async with http.post(gateway.base_url + "/completions", json=body, headers=codegpt_headers()) as resp:
        events = await openai_sse_json(resp)
    text = "".join(e["choices"][0].get("text") or "" for e in events if e.get("choices"))
    assert_clean(text, FALLBACK_STOP if template == "prefix_suffix" else [])
    assert events and all(e.get("object") == "text_completion" for e in events if e.get("choices"))


# --------------------------------------------------------------------------------------------
# This project's VS Code extension: its side of the language-server contract
# --------------------------------------------------------------------------------------------

EXTENSION = Path(__file__).resolve().parents[2] / "vscode-extension"


def test_vscode_extension_lsp_contract(gateway):
    """vscode-extension/test/integration/lspContract.ts drives a real `oss-sidecar lsp` with the
    extension's own settings mapping and requests (vscode-jsonrpc, the transport under
    vscode-languageclient): ghost text, code-action titles, ossSidecar/ask with $/progress
    pieces, Stop ($/cancelRequest), settings changed live, ossSidecar/status."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (EXTENSION / "node_modules" / ".bin" / "tsc").exists():
        pytest.skip("vscode-extension/node_modules is missing: run scripts/test-extension.sh first")
    subprocess.run([str(EXTENSION / "node_modules" / ".bin" / "tsc"), "-p", "."], cwd=EXTENSION, check=True, timeout=120)
    before = gateway.stats()["gateway_counters"].get("requests_aborted_total", 0)
    proc = subprocess.run(
        [node, "out/test/integration/lspContract.js"],
        cwd=EXTENSION,
        env={
            **os.environ,
            "OSS_SIDECAR_GATEWAY": gateway.url,
            "OSS_SIDECAR_PYTHON": sys.executable,
            # this checkout's server, not whichever one `pip install -e` pointed at
            "PYTHONPATH": os.pathsep.join(filter(None, [str(EXTENSION.parent), os.environ.get("PYTHONPATH")])),
        },
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr[-4000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "ossSidecar.showMarkdown" in report["commands"]
    assert report["askPieces"] > 0
    if report["cancelOutcome"] == "cancelled":
        # Stop in the panel reaches the engine: the gateway counts the abandoned request.
        for _ in range(50):
            if gateway.stats()["gateway_counters"].get("requests_aborted_total", 0) > before:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the cancelled ask was not aborted at the gateway")
