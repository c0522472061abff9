"""The JSON Schema check shared by the wire formats: a schema is checked once however often
clients send it, and each answer still names the field it came in."""
import pytest

from gateway.api import json_schema
from gateway.api.json_schema import check_schema
from gateway.errors import ApiError


def test_a_bad_schema_is_named_by_each_field_it_comes_in():
    bad = {"type": "object", "properties": {"n": {"type": 3}}}
    for param in ("response_format.json_schema.schema", "tools[1].function.parameters", "format"):
        with pytest.raises(ApiError) as caught:
            check_schema(bad, param)
        assert caught.value.status == 400 and caught.value.param == param
        assert caught.value.message.startswith(f"{param}: not a valid JSON Schema:")
        assert "['properties']['n']['type']" in caught.value.message


def test_the_same_schema_is_checked_once_whatever_its_key_order():
    json_schema._analysis.cache_clear()
    check_schema({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}, "x")
    check_schema({"required": ["a"], "properties": {"a": {"type": "string"}}, "type": "object"}, "y")
    info = json_schema._analysis.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_not_an_object_is_refused_before_any_check():
    with pytest.raises(ApiError) as caught:
        check_schema(["type", "object"], "format")
    assert caught.value.param == "format" and "must be a JSON Schema object" in caught.value.message
