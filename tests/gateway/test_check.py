"""ID020: every MCP tool name a project lists matches the MCP name rule (table of findings)."""

from __future__ import annotations

from typing import Any

import pytest

from chora_base.checker.checks.gateway import ID020


class Listed:
    """A probe whose MCP section lists the given tools."""

    def __init__(self, mcp: dict[str, Any]) -> None:
        self.mcp = mcp

    def section(self, name: str) -> dict[str, Any]:
        return self.mcp if name == "mcp" else {}


@pytest.mark.parametrize(
    ("mcp", "flagged"),
    [
        ({"ok": True, "tools": [{"name": "get_note"}, {"name": "alpha_get-note"}]}, []),
        ({"ok": True, "tools": [{"name": "x" * 64}, {"name": "y" * 65}]}, ["y" * 65]),
        ({"ok": True, "tools": [{"name": ""}, {"name": "has space"}]}, ["", "has space"]),
    ],
)
def test_id020_flags_names_outside_the_rule(mcp: dict[str, Any], flagged: list[str]) -> None:
    message = ID020().check(chora_probe=Listed(mcp))
    assert bool(message) == bool(flagged)
    for name in flagged:
        assert f"- {name}\n" in message + "\n"


def test_id020_skips_a_project_without_mcp() -> None:
    assert ID020().check(chora_probe=Listed({"ok": False, "missing": True})) is None
