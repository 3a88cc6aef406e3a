"""The list of compliance checks, as plain data for the docs site and the ledger.

This module is the stable, cheap entry point for anything that needs to *describe*
the checks (the generated check list page, the SAP ledgers) without running them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Tier = Literal["essential", "recommended", "advanced"]

#: Tiers in adoption order; each one is a strict superset of the one before.
TIERS: Final[tuple[Tier, ...]] = ("essential", "recommended", "advanced")

#: Root of the published SAP site. Check URLs are built from it so that one edit
#: moves every link (the report, the JSON output and the docs all use it).
BASE_URL: Final[str] = "https://chora-base.github.io/chora-base"


@dataclass(frozen=True)
class Sap:
    """One SAP (Structured Autonomous Practice): a family of checks."""

    slug: str
    name: str
    prefix: str
    order: int
    description: str


#: The six SAPs of the site, in the order the site lists them. The slug is the
#: folder under ``saps/`` and the family key in repo-review; ``prefix`` starts
#: every check ID of that SAP.
SAPS: Final[tuple[Sap, ...]] = (
    Sap(
        "capability-server-template",
        "Capability server template",
        "TP",
        0,
        "The project follows the template: answers file, README, AGENTS.md, lint, CI.",
    ),
    Sap(
        "multi-interface",
        "Multi-interface",
        "MI",
        1,
        "One operation table drives the CLI, REST, MCP and Python interfaces.",
    ),
    Sap(
        "interface-design",
        "Interface design",
        "ID",
        2,
        "One error model, a committed contract, and the transport details around it.",
    ),
    Sap(
        "bootstrap",
        "Bootstrap",
        "BS",
        3,
        "The server starts from one command and reports its own health.",
    ),
    Sap(
        "registry",
        "Registry",
        "RG",
        4,
        "Peers are found through the manifest registry, never by fixed address.",
    ),
    Sap(
        "composition",
        "Composition",
        "CP",
        5,
        "Servers calling servers by name: declared peers, retryable errors, the peer directory.",
    ),
)

SAP_BY_SLUG: Final[dict[str, Sap]] = {sap.slug: sap for sap in SAPS}


def check_url(sap_slug: str, check_id: str) -> str:
    """Deep link to the definition-of-done item for ``check_id`` in its SAP's blueprint."""
    return f"{BASE_URL}/saps/{sap_slug}/adoption-blueprint/#{check_id.lower()}"


@dataclass(frozen=True)
class CheckInfo:
    """Description of one check, independent of any project."""

    id: str
    family: str  # the SAP slug
    tier: Tier
    title: str
    rationale: str
    url: str


def tier_index(tier: str) -> int:
    """0-based position of ``tier`` in :data:`TIERS` (raises ``ValueError`` if unknown)."""
    return TIERS.index(tier)  # type: ignore[arg-type]


def all_checks() -> list[CheckInfo]:
    """Every check, ordered by SAP then ID."""
    # Imported here so that importing the catalog for TIERS/SAPS stays cheap.
    from chora_base.checker.checks import CHECK_CLASSES

    infos = [
        CheckInfo(
            id=cls.__name__,
            family=cls.family,
            tier=cls.tier,
            title=(cls.__doc__ or "").strip(),
            rationale=cls.rationale,
            url=check_url(cls.family, cls.__name__),
        )
        for cls in CHECK_CLASSES
    ]
    return sorted(infos, key=lambda c: (SAP_BY_SLUG[c.family].order, c.id))
