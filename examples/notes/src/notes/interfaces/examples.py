"""An operation's example call written out for each interface, as the generated docs print it.

The CLI lines run as printed: they come from ``cli_params.example_argv``, the function the
parity tests replay every example through.
"""

from __future__ import annotations

import json
import shlex
from typing import Any
from urllib.parse import quote, urlencode

from ..core.operation import Operation

CLI = "notes"
API_PREFIX = "/v1"
BASE_URL = "http://127.0.0.1:8000"
TOKEN_ENV = "NOTES_API_TOKEN"


def successful(op: Operation) -> list[dict[str, Any]]:
    """The inputs of the examples that succeed, in table order."""
    return [dict(example.input) for example in op.examples if example.error is None]


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def cli_line(op: Operation, raw: dict[str, Any], *, as_json: bool = False) -> str:
    from .cli_params import example_argv  # the same words the parity tests run

    return shlex.join([CLI, *example_argv(op, raw, as_json)])


def rest_path(op: Operation, raw: dict[str, Any]) -> str:
    path = op.path
    for name in op.path_params:
        path = path.replace("{" + name + "}", quote(str(raw.get(name, "{" + name + "}")), safe=""))
    return API_PREFIX + path


def curl_line(op: Operation, raw: dict[str, Any]) -> str:
    rest = {k: v for k, v in raw.items() if k not in op.path_params and v is not None}
    path = rest_path(op, raw)
    words = ["curl", "-s", "-X", op.method]
    quoted = [shlex.quote(w) for w in words]
    if op.mutating:
        quoted += ["-H", f'"Authorization: Bearer ${TOKEN_ENV}"']
    if op.has_body:
        quoted += ["-H", shlex.quote("content-type: application/json"), "-d", shlex.quote(json.dumps(rest))]
    elif rest:
        path += "?" + urlencode({k: _text(v) if not isinstance(v, list) else v for k, v in rest.items()}, doseq=True)
    return " ".join([*quoted, shlex.quote(BASE_URL + path)])


def python_literal(value: Any) -> str:
    """A Python literal in the formatter's style (double quotes), for values from JSON examples."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(python_literal, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{python_literal(k)}: {python_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def python_call(op: Operation, raw: dict[str, Any], target: str) -> str:
    return f"{target}.{op.name}({', '.join(f'{k}={python_literal(v)}' for k, v in raw.items())})"


def mcp_call(op: Operation, raw: dict[str, Any]) -> str:
    return json.dumps({"method": "tools/call", "params": {"name": op.name, "arguments": raw}})
