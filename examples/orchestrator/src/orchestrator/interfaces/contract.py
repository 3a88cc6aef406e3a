"""Generated artifacts committed with the project: the OpenAPI contract (`openapi.json`) and
the operation reference (`docs/operations.md`). After changing the operation table, regenerate
both (the contract tests fail until you do) with:

    python -m orchestrator.interfaces.contract
"""

from __future__ import annotations

import json
import shlex
import tempfile
from pathlib import Path
from typing import Any

from ..core.operation import Operation
from ..core.settings import Settings
from ..operations import OPERATIONS
from .rest import API_PREFIX, create_app

CLI = "orchestrator"
PACKAGE = "orchestrator"


def openapi_document() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        return create_app(Settings(data_dir=Path(tmp))).openapi()


def _cli(op: Operation, raw: dict[str, Any]) -> str:
    words = [CLI, op.cli_name] + [str(raw[p]) for p in op.path_params]
    for name, value in raw.items():
        if name not in op.path_params:
            for item in value if isinstance(value, list) else [value]:
                words += ["--" + name.replace("_", "-"), str(item)]
    return shlex.join([*words, "--json"])


def _curl(op: Operation, raw: dict[str, Any]) -> str:
    path = API_PREFIX + op.path.format(**{p: raw[p] for p in op.path_params})
    rest = {k: v for k, v in raw.items() if k not in op.path_params}
    words = ["curl", "-s", "-X", op.method]
    if op.mutating:
        words += ["-H", "Authorization: Bearer $TOKEN"]
    if op.has_body:
        words += ["-H", "content-type: application/json", "-d", json.dumps(rest)]
    elif rest:
        path += "?" + "&".join(f"{k}={v}" for k, v in rest.items())
    return " ".join(shlex.quote(w) if "$" not in w else f'"{w}"' for w in words) + f" http://127.0.0.1:8000{path}"


def _python(op: Operation, raw: dict[str, Any], target: str) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in raw.items())
    return f"{target}.{op.name}({args})"


def operation_reference() -> str:
    lines = [
        "# Operations",
        "",
        f"Generated from the operation table by `python -m {PACKAGE}.interfaces.contract`; do not edit by hand.",
        "",
    ]
    for op in OPERATIONS:
        example = next((ex for ex in op.examples if ex.error is None), None)
        raw = dict(example.input) if example else {}
        errors = ", ".join(f"`{e.code}`" for e in op.errors) or "none besides `validation_error`"
        lines += [
            f"## `{op.name}`",
            "",
            op.description,
            "",
            f"- REST: `{op.method} {API_PREFIX}{op.path}`",
            f"- read-only: {'yes' if op.read_only else 'no'}; destructive: {'yes' if op.destructive else 'no'}",
            f"- errors: {errors}",
            "",
            "```bash",
            _cli(op, raw),
            _curl(op, raw),
            "```",
            "",
            "```python",
            f"from {PACKAGE} import Service, get_settings",
            _python(op, raw, "Service.from_settings(get_settings())"),
            f"from {PACKAGE}.interfaces.client import Client",
            _python(op, raw, 'Client("http://127.0.0.1:8000")'),
            "```",
            "",
            "```json",
            json.dumps({"method": "tools/call", "params": {"name": op.name, "arguments": raw}}),
            "```",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    root = Path.cwd()
    (root / "openapi.json").write_text(json.dumps(openapi_document(), indent=2) + "\n")
    (root / "docs").mkdir(exist_ok=True)
    (root / "docs" / "operations.md").write_text(operation_reference())
    print("wrote openapi.json and docs/operations.md")


if __name__ == "__main__":
    main()
