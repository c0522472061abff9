"""Content blocks and their events from the serving core's output: a reasoning model's thinking
(with its signature), text, then tool calls, each block opened and closed in turn."""
from __future__ import annotations

import json

from gateway.api.anthropic.stream import MessageBlocks, signature
from gateway.engines.base import ToolCallPiece


def events(raw: bytes) -> list[dict]:
    out = []
    for block in raw.decode().strip().split("\n\n"):
        name, data = block.split("\n")
        payload = json.loads(data.removeprefix("data: "))
        assert name == f"event: {payload['type']}"
        out.append(payload)
    return out


def run(blocks: MessageBlocks) -> bytes:
    return (blocks.reasoning("Weather means ") + blocks.reasoning("a call.") + blocks.text("Let me check.")
            + blocks.tool_call(ToolCallPiece(0, id="call_1", name="get_weather", arguments='{"city": '))
            + blocks.tool_call(ToolCallPiece(0, arguments='"Paris"}')) + blocks.finish())


def test_thinking_text_and_a_tool_call_stream_as_three_blocks():
    blocks = MessageBlocks(stream=True, thinking=True)
    got = events(run(blocks))
    kinds = [(e["type"], e.get("index"), (e.get("delta") or e.get("content_block") or {}).get("type")) for e in got]
    assert kinds == [
        ("content_block_start", 0, "thinking"), ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "thinking_delta"), ("content_block_delta", 0, "signature_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, "text"), ("content_block_delta", 1, "text_delta"), ("content_block_stop", 1, None),
        ("content_block_start", 2, "tool_use"), ("content_block_delta", 2, "input_json_delta"),
        ("content_block_delta", 2, "input_json_delta"), ("content_block_stop", 2, None),
    ]
    assert got[3]["delta"]["signature"] == signature("Weather means a call.")
    content = [block.dump() for block in blocks.content()]
    assert content == [
        {"type": "thinking", "thinking": "Weather means a call.", "signature": signature("Weather means a call.")},
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    assert blocks.called_tools


def test_without_thinking_the_reasoning_is_not_shown():
    blocks = MessageBlocks(stream=True, thinking=False)
    kinds = [e["content_block"]["type"] for e in events(run(blocks)) if e["type"] == "content_block_start"]
    assert kinds == ["text", "tool_use"]


def test_omitted_thinking_keeps_the_block_and_its_signature_without_text():
    blocks = MessageBlocks(stream=True, thinking=True, show_thinking=False)
    deltas = [e["delta"]["type"] for e in events(run(blocks)) if e["type"] == "content_block_delta" and e["index"] == 0]
    assert deltas == ["signature_delta"]
    assert blocks.content()[0].dump()["thinking"] == ""


def test_a_whole_answer_builds_no_events():
    blocks = MessageBlocks(stream=False, thinking=True)
    assert run(blocks) == b""
    assert [b.type for b in blocks.content()] == ["thinking", "text", "tool_use"]
