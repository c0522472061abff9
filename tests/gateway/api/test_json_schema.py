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


def test_the_budget_outside_a_request_is_the_settings_default():
    from gateway.settings import ServerSettings

    budget = json_schema.request_budget()
    assert budget.max_bytes == ServerSettings().max_schema_bytes
    assert budget.max_values == ServerSettings().max_schema_values


def test_references_are_resolved_only_inside_the_schema():
    for schema, why in [
        ({"properties": {"a": {"$ref": "#"}}}, '$ref "#"'),
        ({"properties": {"a": {"$ref": "#/$defs/x"}}}, "resolves to nothing"),
        ({"properties": {"a": {"$ref": "https://example.com/s.json"}}}, "nothing is fetched"),
        ({"properties": {"a": {"$ref": "#/properties/a/$ref"}}}, "not a schema"),
    ]:
        with pytest.raises(ApiError) as caught:
            check_schema(schema, "format")
        assert why in caught.value.message and "(at ['properties']['a'])" in caught.value.message
    # Data keywords hold data, not references; a recursive definition under $defs is fine.
    check_schema({"default": {"$ref": "http://x"}, "enum": [{"$ref": "#"}]}, "format")
    check_schema({"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}},
                  "$ref": "#/$defs/n"}, "format")


def test_integer_bounds_must_fit_64_bits_and_number_bounds_may_be_anything():
    with pytest.raises(ApiError) as caught:
        check_schema({"type": ["integer", "null"], "maximum": 1e30}, "format")
    assert "64-bit" in caught.value.message
    check_schema({"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}, "format")
    check_schema({"type": "number", "maximum": 1e30}, "format")


def test_the_values_of_one_requests_schemas_add_up():
    token = json_schema._BUDGET.set(json_schema.SchemaBudget(max_bytes=4096, max_values=40))
    try:
        check_schema({"enum": list(range(20))}, "tools[0].function.parameters")  # 22 values
        with pytest.raises(ApiError) as caught:
            check_schema({"enum": list(range(20))}, "tools[1].function.parameters")
        assert caught.value.param == "tools[1].function.parameters"
        assert "44 JSON values" in caught.value.message and "server.max_schema_values" in caught.value.message
        with pytest.raises(ApiError) as caught:
            check_schema({"description": "d" * 5000}, "format")
        assert "server.max_schema_bytes" in caught.value.message
    finally:
        json_schema._BUDGET.reset(token)
