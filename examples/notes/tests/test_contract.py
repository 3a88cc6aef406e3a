"""What the project generates from its own operation table, errors and settings matches the
committed files: the generated regions of README.md and AGENTS.md, docs/, the typed client and
the OpenAPI contract.

When this fails after you changed the operation table, models, errors or settings, regenerate
with `python -m notes.interfaces.contract` and commit the result.
"""

from __future__ import annotations

import json

import pytest

from notes.interfaces.contract import ROOT, expected

REGENERATE = "run python -m notes.interfaces.contract"
GENERATED = expected(ROOT)


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_file_has_not_drifted(name: str) -> None:
    path = ROOT / name
    assert path.is_file(), f"{name} is missing: {REGENERATE}"
    committed = path.read_text(encoding="utf-8")
    if name.endswith(".json"):  # by value: the template writes the copy a render starts with differently
        assert json.loads(committed) == json.loads(GENERATED[name]), f"{name} is stale: {REGENERATE}"
    else:
        assert committed == GENERATED[name], f"{name} is stale: {REGENERATE}"
