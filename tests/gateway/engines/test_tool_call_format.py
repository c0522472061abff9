"""The forced tool-call format: the grammar names each tool's schema, and the reader turns text
streamed in any split into one call (id and name first, then the arguments in pieces)."""
from __future__ import annotations

import json

import pytest

from gateway.engines.tool_call_format import ToolCallReader, call_grammar

TEXT = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris \\"}{\\" x", "n": [1, {"a": 2}]}}\n</tool_call>'
ARGS = '{"city": "Paris \\"}{\\" x", "n": [1, {"a": 2}]}'


@pytest.mark.parametrize("size", [1, 2, 3, 7, len(TEXT)])
def test_reader_reassembles_one_call_from_any_split(size):
    reader = ToolCallReader()
    pieces = []
    for i in range(0, len(TEXT), size):
        pieces += reader.feed(TEXT[i:i + size])
    assert reader.calls == 1
    assert pieces[0].name == "get_weather" and pieces[0].id.startswith("call_") and pieces[0].arguments == ""
    assert all(p.index == 0 and p.id is None and p.name is None for p in pieces[1:])
    assert "".join(p.arguments for p in pieces) == ARGS
    assert json.loads(ARGS)["city"] == 'Paris "}{" x'


def test_untagged_reader_reads_a_bare_call_object():
    reader = ToolCallReader(tagged=False)
    pieces = reader.feed(' {"name": "f", "arguments": {"x": 1}}')
    assert pieces[0].name == "f"
    assert "".join(p.arguments for p in pieces) == '{"x": 1}'


def test_grammar_offers_each_tool_with_its_parameters():
    tools = [
        {"name": "a", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}},
        {"name": "b"},
    ]
    grammar = call_grammar(tools)
    assert grammar.startswith("%llguidance {}\nstart: call\n")
    schema = json.loads(grammar.split("%json ", 1)[1])
    assert [s["properties"]["name"] for s in schema["anyOf"]] == [{"const": "a"}, {"const": "b"}]
    assert schema["anyOf"][1]["properties"]["arguments"] == {"type": "object"}


def test_arguments_are_closed_objects_unless_the_schema_opens_them():
    parameters = {
        "type": "object",
        "properties": {
            "place": {"type": "object", "properties": {"city": {"type": "string"}}},
            "tags": {"type": "array", "items": {"anyOf": [{"$ref": "#/$defs/Tag"}, {"type": "string"}]}},
            "extra": {"type": "object", "properties": {}, "additionalProperties": {"type": "object", "properties": {"v": {}}}},
            "free": {"type": "object"},
        },
        "$defs": {"Tag": {"type": "object", "properties": {"label": {"type": "string"}}}},
    }
    grammar = call_grammar([{"name": "f", "parameters": parameters}])
    arguments = json.loads(grammar.split("%json ", 1)[1])["anyOf"][0]["properties"]["arguments"]
    assert arguments["additionalProperties"] is False
    assert arguments["properties"]["place"]["additionalProperties"] is False
    assert arguments["$defs"]["Tag"]["additionalProperties"] is False
    assert arguments["properties"]["extra"]["additionalProperties"]["additionalProperties"] is False
    assert "additionalProperties" not in arguments["properties"]["free"]
    assert parameters["properties"]["place"] == {"type": "object", "properties": {"city": {"type": "string"}}}
