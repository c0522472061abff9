"""The check every wire format makes on a JSON Schema a client sends (structured output, tool
parameters): one the engines can constrain to within the server's budget, or a 400 naming
where it is.

Engines turn a schema into a grammar inside the loop that serves every stream (llama.cpp's
chat parser spent 13 s on an `anyOf` of 2,000 constants, other streams waiting; vLLM compiles
with xgrammar), so a request's schemas are bounded here, before any engine sees them, the same
for every engine: `server.max_schema_bytes` for one schema as compact JSON and
`server.max_schema_values` for the JSON values of all of one request's schemas together
(every object, array, string, number: an `enum` of 2,000 strings is 2,001 values). The
budget of the request being decoded is a context variable (`request_budget`, set per request
by `budget_middleware`), so a wire format's validators need no more than `check_schema`.

Beyond the JSON Schema meta-schema, what no engine can constrain to is refused here too:
references that leave the schema (`http:`, `file:`, ...: never fetched), references that
resolve to nothing, `$ref: "#"` (the whole schema again), and integer bounds outside 64 bits.
"""
from __future__ import annotations

import contextvars
import functools
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import jsonschema
from aiohttp import web

from gateway.errors import bad_request

# For checks made outside a request (no middleware ran): the defaults of the settings of the
# same names (tests/gateway/api/test_json_schema.py checks that they agree).
MAX_SCHEMA_BYTES = 32 * 1024
MAX_SCHEMA_VALUES = 500
# What llama.cpp's and xgrammar's integer ranges hold.
_INT64 = (-(2**63), 2**63 - 1)


@dataclass
class SchemaBudget:
    """One request's allowance for its JSON Schemas, and what it has used so far."""

    max_bytes: int = MAX_SCHEMA_BYTES
    max_values: int = MAX_SCHEMA_VALUES
    used_values: int = 0


_BUDGET: contextvars.ContextVar[Optional[SchemaBudget]] = contextvars.ContextVar("schema_budget", default=None)


def budget_middleware(max_bytes: int, max_values: int) -> Callable:
    """A fresh schema budget for each request (settings server.max_schema_bytes, max_schema_values)."""

    @web.middleware
    async def schema_budget(request: web.Request, handler: Callable) -> web.StreamResponse:
        token = _BUDGET.set(SchemaBudget(max_bytes, max_values))
        try:
            return await handler(request)
        finally:
            _BUDGET.reset(token)

    return schema_budget


def request_budget() -> SchemaBudget:
    """The budget of the request being decoded; outside a request, a fresh one at the defaults."""
    return _BUDGET.get() or SchemaBudget()


def check_schema(schema: Any, param: str) -> None:
    """A JSON Schema the server can constrain to within the request's budget, or a 400 naming
    where it is."""
    if not isinstance(schema, dict):
        raise bad_request(f"{param}: must be a JSON Schema object", param=param, code="invalid_schema")
    budget = request_budget()
    canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    if len(canonical) > budget.max_bytes:
        raise bad_request(
            f"{param}: the schema is {len(canonical)} bytes of JSON; this server accepts at most "
            f"{budget.max_bytes} (setting server.max_schema_bytes)",
            param=param, code="schema_too_large",
        )
    problem, values = _analysis(canonical)
    if problem is not None:
        raise bad_request(f"{param}: {problem}", param=param, code="invalid_schema")
    budget.used_values += values
    if budget.used_values > budget.max_values:
        raise bad_request(
            f"{param}: the request's JSON Schemas hold {budget.used_values} JSON values in all (each "
            f"object, array, string and number, enum entries included); this server accepts at most "
            f"{budget.max_values} (setting server.max_schema_values)",
            param=param, code="schema_too_large",
        )


# Clients send the same schema with every request, and checking one takes milliseconds; a
# canonical dump takes microseconds, so a schema is checked once per distinct text.
@functools.lru_cache(maxsize=256)
def _analysis(canonical: str) -> tuple[Optional[str], int]:
    """(what is wrong with the schema or None, how many JSON values it holds)."""
    schema = json.loads(canonical)
    try:
        jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return "not a valid JSON Schema: " + exc.message + _where(exc.path), 0
    for path, sub in _subschemas(schema, ()):
        problem = _reference_problem(schema, sub.get("$ref")) or _bounds_problem(sub)
        if problem is not None:
            return problem + _where(path), 0
    return None, _count_values(schema)


def _where(path: Any) -> str:
    where = "".join(f"[{p!r}]" for p in path)
    return f" (at {where})" if where else ""


_SUBSCHEMA = ("items", "additionalItems", "additionalProperties", "unevaluatedItems", "unevaluatedProperties",
              "contains", "propertyNames", "not", "if", "then", "else")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def _subschemas(schema: Any, path: tuple) -> Iterator[tuple[tuple, dict]]:
    """Every schema object inside `schema` (itself first) with its path; data keywords (`enum`,
    `const`, `default`, `examples`) are not schemas and are not entered."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for key in _SUBSCHEMA:
        if isinstance(schema.get(key), dict):
            yield from _subschemas(schema[key], (*path, key))
    for key in _SUBSCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            for i, sub in enumerate(schema[key]):
                yield from _subschemas(sub, (*path, key, i))
    for key in _SUBSCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            for name, sub in schema[key].items():
                yield from _subschemas(sub, (*path, key, name))


def _reference_problem(root: dict, ref: Any) -> Optional[str]:
    if not isinstance(ref, str):
        return None
    if ref == "#":
        return ('$ref "#" (the whole schema again) is not supported; put the recursive part under '
                '$defs and refer to it as "#/$defs/<name>"')
    if not ref.startswith("#/"):
        return (f"$ref {ref[:200]!r} is not supported: only references into the same schema "
                '("#/$defs/<name>") are, and nothing is fetched')
    target: Any = root
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and token in target:
            target = target[token]
        elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
            target = target[int(token)]
        else:
            return f"$ref {ref[:200]!r} resolves to nothing in this schema"
    if not isinstance(target, (dict, bool)):
        return f"$ref {ref[:200]!r} resolves to something that is not a schema"
    return None


def _bounds_problem(schema: dict) -> Optional[str]:
    kinds = schema.get("type")
    if kinds != "integer" and not (isinstance(kinds, list) and "integer" in kinds):
        return None
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = schema.get(key)
        if isinstance(bound, (int, float)) and not isinstance(bound, bool) and not _INT64[0] <= bound <= _INT64[1]:
            return f"{key} {bound!r} of an integer is outside the 64-bit range the engines constrain to"
    return None


def _count_values(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(_count_values(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_count_values(v) for v in value)
    return 1
