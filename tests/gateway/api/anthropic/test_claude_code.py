"""Claude Code (`@anthropic-ai/claude-code` from npm, pinned in tests/node-anthropic) completes a
turn against the real gateway: `claude -p`, unmodified, with ANTHROPIC_BASE_URL pointing here.

Its default first request is about 12k tokens of the default model's vocabulary (a system
prompt, a dozen tools, a system turn inside `messages`), past SmolLM2-135M's trained window of
8192, on which llama.cpp caps a slot. The gateway serves the default model with YaRN RoPE
scaling to 16384 tokens (llamacpp.rope_scale): the same model, no other
download, and the protocol is what is tested, not the answer's quality. Reading that prompt
takes several minutes of a 2-core CPU (attention over 12k tokens; far longer on a busy one):
the stream's early message_start and pings keep the connection, and Claude Code's own
CLAUDE_STREAM_IDLE_TIMEOUT_MS and API_TIMEOUT_MS let it wait. A turn with Claude Code's own
options for a short system prompt and one tool runs the same path in about a minute.

A turn ends one of two ways, both of which prove the wire: the model stops, or every answer
reaches CLAUDE_CODE_MAX_OUTPUT_TOKENS and Claude Code reports `max_output_tokens` after asking
the model to go on three times. Which one is the model's doing: greedy decoding is the same run
for the same prompt, but Claude Code's prompt holds the date and the working folder's path.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CLAUDE = Path(__file__).resolve().parents[3] / "node-anthropic" / "node_modules" / ".bin" / "claude"
MODEL = "SmolLM2-135M-Instruct.Q4_1"


@pytest.fixture(scope="module")
def long_window_gateway(start_gateway):
    return start_gateway(env={
        "OSS_SIDECAR_LLAMACPP__CONTEXT_PER_SLOT": "16384",
        "OSS_SIDECAR_LLAMACPP__N_PARALLEL": "1",
        "OSS_SIDECAR_LLAMACPP__ROPE_SCALE": "2",
        "OSS_SIDECAR_EMBEDDINGS__ENABLED": "false",
        "OSS_SIDECAR_SERVER__API_KEYS": '["sk-local"]',
        "OSS_SIDECAR_SERVER__REQUEST_TIMEOUT_S": "3000",  # the long prompt, on a busy machine
        # Claude Code sends no temperature: sampled, the small model sometimes rambles past the
        # output limit on every one of the four tries; its most likely tokens are the same run
        # each time.
        "OSS_SIDECAR_MODEL__SAMPLING__TEMPERATURE": "0",
    })


def claude(gateway, tmp_path: Path, *options: str, timeout: float, wait_s: int = 0) -> dict:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed: the Claude Code test needs them")
    if not CLAUDE.exists():
        pytest.skip("tests/node-anthropic has no node_modules: run `npm ci --prefix tests/node-anthropic` (scripts/test.sh does)")
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),  # no settings, credentials or history of the machine's user
        "ANTHROPIC_BASE_URL": gateway.url,
        "ANTHROPIC_API_KEY": "sk-local",  # sent as x-api-key
        "ANTHROPIC_MODEL": MODEL,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": MODEL,
        "ANTHROPIC_SMALL_FAST_MODEL": MODEL,
        # Bounds a turn of a small model that rambles (Claude Code asks for 128000 tokens, which
        # the gateway clamps to what the window leaves). An answer that reaches the limit is an
        # error for Claude Code, which asks the model to go on three times first.
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "1024",
        # Nothing but the turn itself: no telemetry, updates, error reports or other traffic.
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
    if wait_s:
        # Claude Code gives up on a stream after 5 minutes without an event (the SDK it is built
        # on drops pings before its watchdog sees them) and on a request after 10: a 12k-token
        # prompt takes longer than that to read on a 2-core CPU.
        env |= {"CLAUDE_STREAM_IDLE_TIMEOUT_MS": str(wait_s * 1000), "API_TIMEOUT_MS": str(wait_s * 1000)}
    run = subprocess.run(
        [str(CLAUDE), "-p", "Say hello in one word.", "--output-format", "json", "--max-turns", "3", *options],
        cwd=work, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )
    failure = f"stdout: {run.stdout[-3000:]}\nstderr: {run.stderr[-3000:]}\n{gateway.log()}"
    try:
        result = json.loads(run.stdout)
    except json.JSONDecodeError:
        pytest.fail(failure)
    assert "Traceback" not in gateway.log(), failure
    if result.get("api_error") == "max_output_tokens":
        # The model, not the protocol, ended the turn: every answer reached the output limit,
        # Claude Code read the stream's stop_reason `max_tokens`, asked the model to go on three
        # times and gave up. Its prompt holds the date and the folder's path, so greedy decoding
        # of the 135M model rambles on some days and paths and stops on others.
        assert run.returncode == 1 and result["num_turns"] == 4, failure
        assert result["usage"]["output_tokens"] == 4 * int(env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"]), failure
        return result
    assert run.returncode == 0, failure
    assert result["type"] == "result" and result["subtype"] == "success" and not result["is_error"], result
    assert result["num_turns"] >= 1
    assert isinstance(result["result"], str)
    return result


@pytest.mark.timeout(600)
def test_claude_code_with_a_short_system_prompt_and_one_tool(long_window_gateway, tmp_path):
    claude(long_window_gateway, tmp_path, "--system-prompt", "Answer in one word.", "--tools", "Read", timeout=540)


@pytest.mark.timeout(3600)
def test_claude_code_completes_a_turn_with_its_default_prompt(long_window_gateway, tmp_path):
    claude(long_window_gateway, tmp_path, timeout=3500, wait_s=3400)
