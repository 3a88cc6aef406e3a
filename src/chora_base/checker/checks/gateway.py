"""Interface design SAP, gateway part: what lets a server be federated by the MCP gateway."""

from __future__ import annotations

import re

from chora_base.checker.checks._common import needs_probe
from chora_base.checker.checks.base import ChoraCheck, bullet
from chora_base.checker.checks.interface_design import FAMILY
from chora_base.checker.probe import Probe

#: The MCP tool-name rule; the gateway lists a tool as ``<server>_<tool>`` within it too.
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class ID020(ChoraCheck):
    "Every MCP tool name is 1 to 64 letters, digits, `_` or `-` (the MCP name rule)"

    family = FAMILY
    tier = "recommended"
    requires = frozenset({"MI001"})
    rationale = (
        "Clients and gateways refuse or rewrite tools outside the MCP name rule; a gateway "
        "federates a tool as `<server>_<tool>`, which only a valid tool name keeps readable."
    )

    @needs_probe
    def check(self, chora_probe: Probe) -> str | None:
        mcp = chora_probe.section("mcp")
        if not mcp.get("ok"):
            return None  # no MCP server (below Recommended) or listing failed: MI004 reports it
        bad = [t["name"] for t in mcp.get("tools", []) if not TOOL_NAME.match(str(t.get("name", "")))]
        if bad:
            return (
                "Rename these operations (the method name in the service is the tool name) to "
                "letters, digits, `_` and `-`, at most 64 characters:\n" + bullet(bad)
            )
        return ""


CHECKS: tuple[type[ChoraCheck], ...] = (ID020,)
