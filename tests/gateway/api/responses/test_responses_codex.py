"""OpenAI's Codex CLI (tests/node-codex, pinned, installed with `npm ci`), unmodified, against
the real gateway through /v1/responses: a turn through a `model_providers` entry, a turn
through `--oss --local-provider ollama` (the Ollama port), and a turn whose function call
Codex runs and sends back.

Codex's prompt is about 9k tokens of the default model's tokenizer, past SmolLM2-135M's 8192:
the gateway here serves it with a 16k window stretched by YaRN (llamacpp.rope_scale 2, as
llama.cpp's --rope-scaling yarn --rope-scale 2). Model quality does not matter here; the
protocol does. Codex sends no output limit and takes an answer cut by a limit
(`response.incomplete`) for a failure, so each turn gives Codex's own `--output-schema` a
one-word answer: the model's output is constrained to it and ends there. The --oss and tool
turns replace Codex's system prompt by a one-line one (Codex's own `model_instructions_file`):
the protocol is the same, and a busy CPU reads ~5k tokens in half the time.

A loopback proxy between Codex and the gateway records what Codex sends. For the tool turn it
also forces the call (tool_choice naming exec_command, its `cmd` narrowed by the schema to one
harmless command), since a 135M model does not choose tools by itself.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Callable, Optional

import aiohttp
import pytest
from aiohttp import web


ROOT = Path(__file__).resolve().parents[4]
CODEX = ROOT / "tests" / "node-codex" / "node_modules" / ".bin" / "codex"
MODEL = "SmolLM2-135M-Instruct.Q4_1"
TOOL_COMMAND = "echo sidecar-tool-ok"
LONG_WINDOW = {
    "OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT": "16384",
    "OSS_SIDECAR_LLAMACPP__N_PARALLEL": "1",
    "OSS_SIDECAR_LLAMACPP__ROPE_SCALE": "2",
    "OSS_SIDECAR_EMBEDDINGS__ENABLED": "false",
    # Codex sends no temperature: the most likely tokens make each run the same run.
    "OSS_SIDECAR_MODEL__SAMPLING__TEMPERATURE": "0",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def codex_gateway(start_gateway):
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: the Codex CLI tests need it (Node 20+)")
    if not CODEX.exists():
        pytest.skip("tests/node-codex has no node_modules: run `npm ci --prefix tests/node-codex` (scripts/test.sh does)")
    ollama_port = free_port()
    gw = start_gateway("--ollama-port", str(ollama_port), env=LONG_WINDOW)
    gw.ollama_port = ollama_port
    return gw


class Recorder:
    """A loopback proxy in front of the gateway: keeps each request body Codex sends, and
    may rewrite it (`rewrite(body, n)` for the n-th request) before passing it on."""

    def __init__(self, target: str, rewrite: Optional[Callable[[dict, int], dict]] = None):
        self.target = target
        self.rewrite = rewrite
        self.bodies: list[dict] = []
        self.port = free_port()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        if body is not None and request.method == "POST":
            if self.rewrite is not None:
                body = self.rewrite(body, len(self.bodies))
            self.bodies.append(body)
            raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": request.headers.get("Accept", "*/*")}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
            async with session.request(request.method, self.target + request.path_qs, data=raw or None,
                                       headers=headers) as upstream:
                response = web.StreamResponse(status=upstream.status, headers={
                    "Content-Type": upstream.headers.get("Content-Type", "application/json")})
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                return response

    async def __aenter__(self) -> "Recorder":
        app = web.Application(client_max_size=1 << 26)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self._runner.cleanup()


def _codex_home(tmp_path: Path, base_url: Optional[str], short_instructions: bool = False) -> Path:
    """Codex's configuration; `short_instructions` replaces its 9k-token system prompt (Codex's
    own model_instructions_file) so the turn reads ~5k tokens: minutes less on a busy CPU."""
    home = tmp_path / "codex-home"
    home.mkdir()
    config = ["check_for_update_on_startup = false"]
    if short_instructions:
        instructions = home / "instructions.md"
        instructions.write_text("You are a coding agent. Be brief.\n")
        config.append(f'model_instructions_file = "{instructions}"')
    if base_url is not None:
        config += [
            f'model = "{MODEL}"',
            'model_provider = "sidecar"',
            "[model_providers.sidecar]",
            'name = "oss-sidecar"',
            f'base_url = "{base_url}"',
            'wire_api = "responses"',
            "request_max_retries = 0",
            "stream_max_retries = 0",
        ]
    (home / "config.toml").write_text("\n".join(config) + "\n")
    return home


SCHEMA = {"type": "object", "properties": {"greeting": {"type": "string", "enum": ["hi", "hello"]}},
          "required": ["greeting"], "additionalProperties": False}


async def _codex(tmp_path: Path, home: Path, *args: str, env: Optional[dict] = None) -> tuple[int, str]:
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    process = await asyncio.create_subprocess_exec(
        str(CODEX), "exec", "--skip-git-repo-check", "--output-schema", str(schema), *args,
        cwd=workdir, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "CODEX_HOME": str(home), **(env or {})},
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), 600)
    except asyncio.TimeoutError:
        process.kill()
        out, _ = await process.communicate()
    return process.returncode, out.decode(errors="replace")


@pytest.mark.timeout(900)
async def test_codex_exec_completes_a_turn_through_a_model_provider(codex_gateway, tmp_path):
    async with Recorder(codex_gateway.url) as proxy:
        home = _codex_home(tmp_path, f"http://127.0.0.1:{proxy.port}/v1")
        code, out = await _codex(tmp_path, home, "Say hi")
    assert code == 0, out[-3000:]
    (first, *_) = proxy.bodies
    assert first["stream"] is True and first["model"] == MODEL
    assert first["text"]["format"]["type"] == "json_schema"
    assert any(tool["type"] == "web_search" for tool in first["tools"])  # left out, not refused
    assert "tokens used" in out


@pytest.mark.timeout(900)
async def test_codex_exec_oss_mode_through_the_ollama_port(codex_gateway, tmp_path):
    # Without a tag: Codex asks /api/pull first, as it does with Ollama.
    home = _codex_home(tmp_path, None, short_instructions=True)
    code, out = await _codex(
        tmp_path, home, "--oss", "--local-provider", "ollama", "-m", MODEL, "Say hi",
        env={"CODEX_OSS_BASE_URL": f"http://127.0.0.1:{codex_gateway.ollama_port}/v1"},
    )
    assert code == 0, out[-3000:]
    assert '"greeting"' in out


def _force_exec_command(body: dict, n: int) -> dict:
    """First request: the model must call exec_command with TOOL_COMMAND. Later ones: it
    answers in text, so the turn ends."""
    if n > 0:
        return {**body, "tool_choice": "none"}
    tools = []
    for tool in body["tools"]:
        if tool.get("name") == "exec_command":
            tool = {**tool, "parameters": {
                "type": "object", "properties": {"cmd": {"type": "string", "enum": [TOOL_COMMAND]}},
                "required": ["cmd"], "additionalProperties": False}}
        tools.append(tool)
    return {**body, "tools": tools, "tool_choice": {"type": "function", "name": "exec_command"},
            "parallel_tool_calls": False}


@pytest.mark.timeout(900)
async def test_codex_runs_a_function_call_and_sends_its_output_back(codex_gateway, tmp_path):
    async with Recorder(codex_gateway.url, _force_exec_command) as proxy:
        home = _codex_home(tmp_path, f"http://127.0.0.1:{proxy.port}/v1", short_instructions=True)
        code, out = await _codex(tmp_path, home, "Run the echo command.")
    assert code == 0, out[-3000:]
    assert len(proxy.bodies) >= 2, out[-3000:]
    second = proxy.bodies[1]["input"]
    calls = [item for item in second if item.get("type") == "function_call"]
    outputs = [item for item in second if item.get("type") == "function_call_output"]
    assert calls and calls[-1]["name"] == "exec_command"
    assert json.loads(calls[-1]["arguments"]) == {"cmd": TOOL_COMMAND}
    assert outputs and outputs[-1]["call_id"] == calls[-1]["call_id"]
    assert "sidecar-tool-ok" in json.dumps(outputs[-1]["output"])
