"""A peer's published contract: its OpenAPI document, read once, turned into requests.

Every capability server publishes ``/openapi.json`` with one entry per operation (the
operation's name is the ``operationId``), its path and query parameters and its JSON body,
all described by JSON Schema. That is enough to call the peer by operation name and to refuse
bad input here, before anything is sent, with the same ``validation_error`` the peer would give.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .errors import validation_failed

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

CONTRACT_PATH = "/openapi.json"
_READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


@dataclass
class PeerOperation:
    """One operation of a peer, as its contract describes it."""

    name: str
    method: str
    path: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    has_body: bool
    schema: dict[str, Any]
    _validator: Draft202012Validator | None = field(default=None, repr=False)

    @property
    def read_only(self) -> bool:
        """A read changes nothing on the peer, so it is safe to send again."""
        return self.method in _READ_ONLY_METHODS

    def validate(self, peer: str, arguments: dict[str, Any]) -> None:
        """Refuse input the peer's schema refuses, naming each field, before any request."""
        if self._validator is None:  # compiled on first use: most peers use few operations
            from jsonschema import Draft202012Validator

            self._validator = Draft202012Validator(self.schema)
        problems = [
            {
                "loc": [str(p) for p in error.absolute_path] or _missing(error),
                "msg": error.message,
                "type": str(error.validator),
            }
            for error in self._validator.iter_errors(arguments)
        ]
        if problems:
            error = validation_failed(problems)
            error.detail = f"Input for {peer}.{self.name}: {error.detail}"
            raise error

    def request(self, arguments: dict[str, Any]) -> tuple[str, dict[str, Any] | None, Any]:
        """(path, query parameters, JSON body) of a call with already validated arguments."""
        path = self.path
        for name in self.path_params:
            path = path.replace("{" + name + "}", quote(str(arguments[name]), safe=""))
        rest = {k: v for k, v in arguments.items() if k not in self.path_params and v is not None}
        if self.has_body:
            return path, None, rest
        return path, rest or None, None


def _missing(error: Any) -> list[str]:
    """A missing required field is reported on the object: name the field itself."""
    if error.validator == "required" and isinstance(error.instance, dict):
        absent = [name for name in error.validator_value if name not in error.instance]
        return absent[:1]
    return []


class Contract:
    """Every operation a peer publishes, by name."""

    def __init__(self, document: dict[str, Any]) -> None:
        components = document.get("components", {})
        self.version = str(document.get("info", {}).get("version", ""))
        self.operations: dict[str, PeerOperation] = {}
        for path, methods in document.get("paths", {}).items():
            for method, spec in methods.items():
                if not isinstance(spec, dict) or "operationId" not in spec:
                    continue
                self.operations[spec["operationId"]] = _operation(path, method.upper(), spec, components)

    def get(self, name: str) -> PeerOperation | None:
        return self.operations.get(name)


def _operation(path: str, method: str, spec: dict[str, Any], components: dict[str, Any]) -> PeerOperation:
    params = [p for p in spec.get("parameters", []) if isinstance(p, dict)]
    properties = {p["name"]: p.get("schema", {}) for p in params}
    required = [p["name"] for p in params if p.get("required")]
    body = spec.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if isinstance(body, dict):
        properties.update(body.get("properties", {}))
        required += body.get("required", [])
    # One object schema for all the inputs; the document's components ride along so that
    # "#/components/schemas/..." references resolve against this schema's root.
    schema = {
        "type": "object",
        "properties": properties,
        "required": sorted(set(required)),
        "additionalProperties": False,
        "components": components,
    }
    return PeerOperation(
        name=spec["operationId"],
        method=method,
        path=path,
        path_params=tuple(p["name"] for p in params if p.get("in") == "path"),
        query_params=tuple(p["name"] for p in params if p.get("in") == "query"),
        has_body=isinstance(body, dict),
        schema=schema,
    )
