"""Run the checks on one project and judge which tier it meets."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repo_review.checks import is_allowed
from repo_review.processor import CollectionReturn, process

from chora_base.checker.catalog import SAP_BY_SLUG, TIERS, Tier, check_url, tier_index
from chora_base.checker.checks import CHECK_CLASSES
from chora_base.checker.plugin import repo_review_families
from chora_base.checker.probe import Probe
from chora_base.checker.project import ProjectInfo, load_project

IGNORE_TABLE = "[tool.chora-base.ignore]"


class ConfigError(Exception):
    """The project's checker configuration is invalid (e.g. an ignore without a reason)."""


@dataclass(frozen=True)
class CheckResult:
    id: str
    family: str
    tier: Tier
    title: str
    url: str
    status: str  # "pass" | "fail" | "skip" (a required check failed) | "ignored" | "not-run"
    message: str = ""  # fix-it message (fail), reason (ignored) or why skipped

    @property
    def counts_as_met(self) -> bool:
        return self.status in ("pass", "ignored")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sap": self.family,
            "tier": self.tier,
            "title": self.title,
            "url": self.url,
            "status": self.status,
            "message": self.message,
        }


@dataclass
class Report:
    path: Path
    declared_tier: Tier | None
    target_tier: Tier
    results: list[CheckResult]
    interpreter: str | None = None
    probe_timings: dict[str, float] = field(default_factory=dict)
    partial: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def met(self, tier: Tier) -> bool:
        """True when every run check of ``tier`` and below passed (or is ignored with reason)."""
        limit = tier_index(tier)
        return all(r.counts_as_met for r in self.results if tier_index(r.tier) <= limit and r.status != "not-run")

    @property
    def achieved_tier(self) -> Tier | None:
        achieved: Tier | None = None
        for tier in TIERS:
            if not self.met(tier):
                break
            achieved = tier
        return achieved

    @property
    def next_tier(self) -> Tier | None:
        index = tier_index(self.target_tier) + 1
        return TIERS[index] if index < len(TIERS) else None

    @property
    def ok(self) -> bool:
        return self.met(self.target_tier)

    def failing(self, tier: Tier) -> list[CheckResult]:
        return [r for r in self.results if r.tier == tier and not r.counts_as_met and r.status != "not-run"]

    def as_dict(self) -> dict[str, Any]:
        from chora_base import __version__

        return {
            "chora_base_version": __version__,
            "path": str(self.path),
            "declared_tier": self.declared_tier,
            "target_tier": self.target_tier,
            "achieved_tier": self.achieved_tier,
            "ok": self.ok,
            "partial": self.partial,
            "next_tier": self.next_tier,
            "next_tier_missing": [r.id for r in self.failing(self.next_tier)] if self.next_tier else [],
            "interpreter": self.interpreter,
            "seconds": round(self.seconds, 3),
            "probe_timings": self.probe_timings,
            "notes": self.notes,
            "checks": [r.as_dict() for r in self.results],
        }


def read_ignores(project: ProjectInfo) -> dict[str, str]:
    """``[tool.chora-base.ignore]``: check ID -> written reason. Raises ConfigError."""
    tool = project.pyproject.get("tool", {})
    table = tool.get("chora-base", {}).get("ignore", {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        raise ConfigError(f'{IGNORE_TABLE} must be a table of CHECK_ID = "reason" entries.')
    known = {cls.__name__ for cls in CHECK_CLASSES}
    ignores: dict[str, str] = {}
    for check_id, reason in table.items():
        if check_id not in known:
            raise ConfigError(f"{IGNORE_TABLE} names unknown check {check_id!r}.")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(
                f"{IGNORE_TABLE} {check_id} has no reason. Write why it does not apply, e.g. "
                f'{check_id} = "this server has no REST interface by design".'
            )
        ignores[check_id] = reason.strip()
    return ignores


def run_checks(
    path: Path,
    *,
    tier: Tier | None = None,
    python: Path | None = None,
    select: Iterable[str] = (),
    ignore: Iterable[str] = (),
    probe: Probe | None = None,
) -> Report:
    """Check the project at ``path``. Raises ConfigError for an invalid ignore table.

    ``probe`` may be one the caller already started (see :func:`start_probe`).
    """
    started = time.perf_counter()
    project = probe.project if probe is not None else load_project(path)
    probe = probe or Probe(project, python)
    try:
        ignores = read_ignores(project)
    except ConfigError:
        probe.stop()
        raise
    select_set, ignore_set = frozenset(select), frozenset(ignore)

    checks = {cls.__name__: cls() for cls in CHECK_CLASSES}
    # Deselected and reason-ignored checks are not run at all; a deselected behaviour
    # check therefore never starts the probe.
    to_run = {
        name: check
        for name, check in checks.items()
        if is_allowed(select_set, ignore_set, name) and name not in ignores
    }
    fixtures: dict[str, Any] = {
        "root": project.root,
        "package": project.root,
        # An empty pyproject here: repo-review's own [tool.repo-review] ignore list could
        # silence checks without a reason, which our contract forbids.
        "pyproject": {},
        "chora_project": project,
        "chora_probe": probe,
    }
    families = repo_review_families()
    processed = process(project.root, collected=CollectionReturn(fixtures, to_run, families))
    by_id = {r.name: r for r in processed.results}

    results = []
    for name, check in checks.items():
        if select_set and not is_allowed(select_set, frozenset(), name):
            continue  # --select reports only what it chose; --ignore still shows "not-run"
        common = {
            "id": name,
            "family": check.family,
            "tier": check.tier,
            "title": (type(check).__doc__ or "").strip(),
            "url": check_url(check.family, name),
        }
        if name in ignores:
            results.append(CheckResult(**common, status="ignored", message=ignores[name]))
        elif name not in by_id:
            results.append(CheckResult(**common, status="not-run"))
        elif by_id[name].result is None:
            needed = ", ".join(sorted(r for r in check.requires if r in by_id and by_id[r].result is not True))
            results.append(CheckResult(**common, status="skip", message=f"Not run because {needed} did not pass."))
        elif by_id[name].result:
            results.append(CheckResult(**common, status="pass"))
        else:
            results.append(CheckResult(**common, status="fail", message=by_id[name].err_msg.strip()))
    results.sort(key=lambda r: (SAP_BY_SLUG[r.family].order, r.id))

    declared = project.declared_tier
    report = Report(
        path=project.root,
        declared_tier=declared,
        target_tier=tier or declared or "essential",
        results=results,
        partial=bool(select_set or ignore_set),
    )
    probe.stop()  # a probe started for checks that were all skipped is not left running
    if probe.ran:  # only when a behaviour check actually used it
        report.interpreter = str(probe.python)
        timings = probe.data.get("timings")
        if isinstance(timings, dict):
            report.probe_timings = {**timings, "total": probe.data.get("seconds", 0.0)}
    if declared is None and tier is None:
        report.notes.append("No tier declared in .copier-answers.yml; judged as essential.")
    if probe.ran:
        report.notes.append(f"Behaviour checks ran under {probe.python}.")
    if report.partial:
        report.notes.append("Partial run (--select/--ignore): checks not run do not count.")
    report.seconds = time.perf_counter() - started
    return report
