"""The committed OpenAPI contract and operation reference match what the code generates.

When this fails after you changed the operation table or models, regenerate both with
`python -m orchestrator.interfaces.contract` and commit the result.
"""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.interfaces.contract import openapi_document, operation_reference

ROOT = Path(__file__).resolve().parents[1]
REGENERATE = "run python -m orchestrator.interfaces.contract"


def test_openapi_contract_has_not_drifted() -> None:
    committed = json.loads((ROOT / "openapi.json").read_text())
    assert committed == openapi_document(), f"openapi.json is stale: {REGENERATE}"


def test_operation_reference_has_not_drifted() -> None:
    committed = (ROOT / "docs" / "operations.md").read_text()
    assert committed == operation_reference(), f"docs/operations.md is stale: {REGENERATE}"
