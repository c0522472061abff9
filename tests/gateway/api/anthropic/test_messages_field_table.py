"""docs/PROTOCOL.md's field table for `POST /v1/messages`, walked against the real gateway: each
field, sent alone with a sample value, works (200), is accepted and ignored (200), or is a 400
whose message names it — as the table says. A field added to the code or the docs without the
other fails here."""
from __future__ import annotations

from field_tables import field_table, walk

MODEL = "SmolLM2-135M-Instruct.Q4_1"
TOOL = {"name": "f", "input_schema": {"type": "object"}}

BASE = {"model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]}
SAMPLES = {
    "model": {"model": MODEL},
    "max_tokens": {"max_tokens": 2},
    "messages": {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "Weather?", "cache_control": {"type": "ephemeral"}}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Call f.", "signature": "c2ln"},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
        {"role": "system", "content": "Be brief."},
    ]},
    "system": {"system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]},
    "stop_sequences": {"stop_sequences": ["\n"]},
    "stream": {"stream": True},
    "temperature": {"temperature": 0},
    "top_p": {"top_p": 0.9},
    "top_k": {"top_k": 5},
    "tools": {"tools": [TOOL, {"type": "web_search_20250305", "name": "web_search"}]},
    "tool_choice": {"tools": [TOOL], "tool_choice": {"type": "none"}},
    "thinking": {"thinking": {"type": "adaptive", "display": "omitted"}},
    "output_config": {"output_config": {"effort": "high"}},
    "output_format": {"output_format": {"type": "json_schema", "schema": {"type": "object"}}},
    "metadata": {"metadata": {"user_id": "someone"}},
    "speed": {"speed": "fast"},
    "diagnostics": {"diagnostics": {"enabled": True}},
    "user_profile_id": {"user_profile_id": "u"},
    "workspace_id": {"workspace_id": "w"},
    "service_tier": {"service_tier": "auto"},
    "context_management": {"context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}},
    "container": {"container": "container_1"},
    "cache_control": {"cache_control": {"type": "ephemeral"}},
    "inference_geo": {"inference_geo": "us"},
    "mcp_servers": {"mcp_servers": [{"type": "url", "url": "https://example.com/sse", "name": "x"}]},
}


def invalid_request_names_it(body: dict, name: str) -> str:
    """Anthropic's error shape has no `param`: the message starts with the field."""
    error = body["error"]
    if error["type"] != "invalid_request_error" or not error["message"].startswith(name):
        return f"{name}: a 400, but {error}"
    return ""


async def test_every_field_does_what_the_table_says(gateway):
    table = field_table("### `POST /v1/messages`")
    problems = await walk(gateway.url + "/v1/messages", BASE, SAMPLES, table, invalid_request_names_it)
    assert not problems, "\n".join(problems)
