"""OpenAPI for the generated routes: their inputs are read by hand, so the docs are built here
from each operation's own model, with every declared error as a problem+json response."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..core.errors import DomainError
from ..core.operation import Operation


def responses(errors: Iterable[type[DomainError]]) -> dict[int | str, dict[str, Any]]:
    """One response per HTTP status. Errors sharing a status are listed together, ordered by
    code, so the document is the same on every run (a set's order is not)."""
    titles: dict[int, list[str]] = {}
    for err in sorted(set(errors), key=lambda e: (e.http_status, e.code)):
        if err.title not in titles.setdefault(err.http_status, []):
            titles[err.http_status].append(err.title)
    return {
        status: {
            "description": " / ".join(names),
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status, names in titles.items()
    }


def route_docs(op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    """Parameters and request body of an operation's route, from its input model."""
    schema = op.input_model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    params = [{"name": n, "in": "path", "required": True, "schema": props[n]} for n in op.path_params]
    rest = {n: s for n, s in props.items() if n not in op.path_params}
    extra: dict[str, Any] = {}
    if op.has_body:
        body = {
            "type": "object",
            "title": schema.get("title"),
            "properties": rest,
            "required": sorted(required & rest.keys()),
            "additionalProperties": False,
        }
        extra["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    else:
        params += [{"name": n, "in": "query", "required": n in required, "schema": s} for n, s in rest.items()]
    extra["parameters"] = params
    return extra


def problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "title": "Problem",
        "required": ["type", "title", "status", "code"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"type": "string"},
            "retryable": {"type": "boolean"},
            "hint": {"type": "string", "description": "What to do instead, in one sentence."},
            "request_id": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    }
