"""The six SAPs the site documents: slug, title, and how much of each the template implements."""

from __future__ import annotations

from dataclasses import dataclass

TIERS = ("essential", "recommended", "advanced")


@dataclass(frozen=True)
class Sap:
    slug: str
    title: str
    summary: str
    status: str  # how much the template implements; starts with "not implemented" if nothing


SAPS: tuple[Sap, ...] = (
    Sap(
        "capability-server-template",
        "Capability server template",
        "Copier template that renders a working server at a chosen tier and keeps it current with `copier update`.",
        "implemented",
    ),
    Sap(
        "multi-interface",
        "Multi-interface",
        "One domain core; CLI, REST, MCP and Python adapters generated from one operation table.",
        "implemented",
    ),
    Sap(
        "interface-design",
        "Interface design",
        "One error model, problem+json, health endpoints, a committed OpenAPI contract.",
        "implemented",
    ),
    Sap(
        "registry",
        "Registry",
        "Servers register, heartbeat and find each other by name through the manifest registry.",
        "client at every tier; the registry itself is `examples/manifest`",
    ),
    Sap(
        "bootstrap",
        "Bootstrap",
        "Bringing up a whole environment in health-checked phases from one command.",
        "examples/orchestrator: phases 0-3, long-running apply, supervision, systemd and Kubernetes export, etcd",
    ),
    Sap(
        "composition",
        "Composition",
        "Calling other capability servers safely: dependencies, timeouts, sagas with compensation.",
        "retryable errors at every tier; peer calls from Recommended; sagas and events planned",
    ),
)

SAP_BY_SLUG = {sap.slug: sap for sap in SAPS}
