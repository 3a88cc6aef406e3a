"""Everything this project generates from its own operation table, error classes and settings:
the generated regions of README.md and AGENTS.md, `docs/usage.md`, the typed remote client
(`interfaces/client.py`), the OpenAPI contract (`openapi.json`) and the operation reference
(`docs/operations.md`). After changing the table, regenerate them all (the drift test fails
until you do) with:

    python -m notes.interfaces.contract
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from ..core.about import NAME
from ..core.settings import Settings
from ..operations import OPERATIONS
from . import docs
from . import examples as ex
from .clientgen import client_source
from .rest import create_app

PACKAGE = "notes"
CLIENT = f"src/{PACKAGE}/interfaces/client.py"
#: The project root of a source checkout (where README.md and src/ live).
ROOT = Path(__file__).resolve().parents[3]


def openapi_document() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        return create_app(Settings(data_dir=Path(tmp))).openapi()


def operation_reference() -> str:
    lines = [
        "# Operations",
        "",
        f"Generated from the operation table by `python -m {PACKAGE}.interfaces.contract`; do not edit by hand.",
        "",
    ]
    for op in OPERATIONS:
        example = next((e for e in op.examples if e.error is None), None)
        raw = dict(example.input) if example else {}
        errors = ", ".join(f"`{e.code}`" for e in op.errors) or "none besides `validation_error`"
        lines += [
            f"## `{op.name}`",
            "",
            op.description,
            "",
            f"- REST: `{op.method} {ex.API_PREFIX}{op.path}`",
            f"- read-only: {'yes' if op.read_only else 'no'}; destructive: {'yes' if op.destructive else 'no'}",
            f"- errors: {errors}",
            "",
            "```bash",
            ex.cli_line(op, raw, as_json=True),
            ex.curl_line(op, raw),
            "```",
            "",
            "```python",
            f"from {PACKAGE} import Service, get_settings",
            ex.python_call(op, raw, "Service.from_settings(get_settings())"),
            f"from {PACKAGE}.interfaces.client import Client",
            ex.python_call(op, raw, 'Client("http://127.0.0.1:8000")'),
            "```",
            "",
            "```json",
            ex.mcp_call(op, raw),
            "```",
            "",
        ]
    return "\n".join(lines)


def expected(root: Path) -> dict[str, str]:
    """Each generated file (path relative to `root`) and what it should hold now."""

    def current(name: str) -> str | None:
        path = root / name
        return path.read_text(encoding="utf-8") if path.is_file() else None

    files = docs.expected({name: current(name) for name in ("README.md", "AGENTS.md")})
    files[CLIENT] = client_source(OPERATIONS, NAME)
    files["openapi.json"] = json.dumps(openapi_document(), indent=2) + "\n"
    files["docs/operations.md"] = operation_reference()
    return files


def main() -> None:
    root = ROOT
    if not (root / "src" / PACKAGE).is_dir():
        raise SystemExit(f"{root} is not a source checkout of {PACKAGE}: install it editable (pip install -e .)")
    written = []
    for name, text in expected(root).items():
        path = root / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(name)
    print("wrote " + ", ".join(written) if written else "everything generated was already current")


if __name__ == "__main__":
    main()
