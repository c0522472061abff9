"""The check every wire format makes on a JSON Schema a client sends (structured output, tool
parameters): one the engines can constrain to, or a 400 naming where it is."""
from __future__ import annotations

from typing import Any

import jsonschema

from gateway.errors import bad_request


def check_schema(schema: Any, param: str) -> None:
    """A JSON Schema the server can constrain to, or a 400 naming where it is."""
    if not isinstance(schema, dict):
        raise bad_request(f"{param}: must be a JSON Schema object", param=param, code="invalid_schema")
    try:
        jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "".join(f"[{p!r}]" for p in exc.path)
        raise bad_request(
            f"{param}: not a valid JSON Schema: {exc.message}" + (f" (at {where})" if where else ""),
            param=param,
            code="invalid_schema",
        ) from None
