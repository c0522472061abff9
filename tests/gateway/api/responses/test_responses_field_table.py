"""docs/PROTOCOL.md's table of /v1/responses request fields, walked against the real gateway:
each field, sent with a sample value, works (200), is accepted and ignored (200), or is a 400
whose `param` names it, as the table says. A field added to the code or the docs without the
other fails here."""
from __future__ import annotations

from field_tables import field_table, walk

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


async def test_every_field_does_what_the_table_says(gateway):
    table = field_table("### `POST /v1/responses`")
    problems = await walk(gateway.base_url + "/responses", BASE, SAMPLES, table)
    assert not problems, "\n".join(problems)
