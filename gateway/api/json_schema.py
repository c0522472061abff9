"""The check every wire format makes on a JSON Schema a client sends (structured output, tool
parameters): one the engines can constrain to, or a 400 naming where it is."""
from __future__ import annotations

import functools
import json
from typing import Any, Optional

import jsonschema

from gateway.errors import bad_request


def check_schema(schema: Any, param: str) -> None:
    """A JSON Schema the server can constrain to, or a 400 naming where it is."""
    if not isinstance(schema, dict):
        raise bad_request(f"{param}: must be a JSON Schema object", param=param, code="invalid_schema")
    problem = _schema_problem(json.dumps(schema, sort_keys=True))
    if problem is not None:
        raise bad_request(f"{param}: not a valid JSON Schema: {problem}", param=param, code="invalid_schema")


# Clients send the same schema with every request, and checking one takes milliseconds on the
# event loop (16 requests at once waited for each other's checks); a canonical dump takes
# microseconds, so a check is made once per distinct schema.
@functools.lru_cache(maxsize=256)
def _schema_problem(canonical: str) -> Optional[str]:
    schema = json.loads(canonical)
    try:
        jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "".join(f"[{p!r}]" for p in exc.path)
        return exc.message + (f" (at {where})" if where else "")
    return None
