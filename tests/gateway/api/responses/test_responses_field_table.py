"""docs/PROTOCOL.md's table of /v1/responses request fields, walked against the real gateway:
each field, sent with a sample value, works (200), is accepted and ignored (200), or is a 400
whose `param` names it, as the table says. A field added to the code or the docs without the
other fails here."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[4]
MODEL = "SmolLM2-135M-Instruct.Q4_1"
TOOL = {"type": "function", "name": "f", "parameters": {"type": "object"}}
BASE = {"model": MODEL, "input": "Hi", "max_output_tokens": 1}
SAMPLES = {
    "input": {"input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Be brief."}]},
        {"role": "user", "content": "Hi"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "x"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done."}]},
        {"role": "user", "content": "Thanks"}]},
    "model": {"model": MODEL},
    "instructions": {"instructions": "Be brief."},
    "tools": {"tools": [TOOL, {"type": "web_search"},
                        {"type": "namespace", "name": "ns", "tools": [{**TOOL, "name": "g"}]}]},
    "tool_choice": {"tools": [TOOL], "tool_choice": "none"},
    "parallel_tool_calls": {"tools": [TOOL], "parallel_tool_calls": False},
    "text": {"text": {"format": {"type": "json_object"}}},
    "reasoning": {"reasoning": {"effort": "low", "summary": "auto"}},
    "max_output_tokens": {"max_output_tokens": 2},
    "temperature": {"temperature": 0},
    "top_p": {"top_p": 0.9},
    "top_k": {"top_k": 5},
    "min_p": {"min_p": 0.1},
    "repetition_penalty": {"repetition_penalty": 1.1},
    "seed": {"seed": 7},
    "stream": {"stream": True},
    "store": {"store": False},
    "previous_response_id": {"previous_response_id": None},
    "include": {"include": ["reasoning.encrypted_content"]},
    "truncation": {"truncation": "auto"},
    "user": {"user": "someone"},
    "metadata": {"metadata": {"k": "v"}},
    "safety_identifier": {"safety_identifier": "s"},
    "service_tier": {"service_tier": "auto"},
    "prompt_cache_key": {"prompt_cache_key": "k"},
    "prompt_cache_retention": {"prompt_cache_retention": "24h"},
    "client_metadata": {"client_metadata": {"turn_id": "t"}},
    "stream_options": {"stream": True, "stream_options": {"include_obfuscation": False}},
    "background": {"background": True},
    "conversation": {"conversation": "conv_1"},
    "prompt": {"prompt": {"id": "pmpt_1"}},
    "max_tool_calls": {"max_tool_calls": 2},
    "top_logprobs": {"top_logprobs": 2},
}


def field_table() -> dict[str, str]:
    text = (ROOT / "docs" / "PROTOCOL.md").read_text()
    section = text.split("### `POST /v1/responses`", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| (supported|ignored|400) \|", section, re.M)
    assert rows, "no field table under ### `POST /v1/responses`"
    return dict(rows)


async def test_every_field_does_what_the_table_says(gateway):
    table = field_table()
    assert set(table) == set(SAMPLES), "docs/PROTOCOL.md and this test list different fields"
    limit = asyncio.Semaphore(4)

    async def check(session: aiohttp.ClientSession, name: str) -> str:
        async with limit, session.post(gateway.base_url + "/responses", json={**BASE, **SAMPLES[name]}) as resp:
            body = await resp.read()
            if table[name] == "400":
                if resp.status != 400:
                    return f"{name}: the table says 400, the gateway answered {resp.status}"
                param = (await resp.json())["error"]["param"]
                return "" if param == name else f"{name}: a 400, but it names {param!r}"
            if resp.status != 200:
                return f"{name}: the table says {table[name]}, the gateway answered {resp.status}: {body[:300]!r}"
            return ""

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=180)) as session:
        problems = [p for p in await asyncio.gather(*(check(session, n) for n in SAMPLES)) if p]
    assert not problems, "\n".join(problems)
