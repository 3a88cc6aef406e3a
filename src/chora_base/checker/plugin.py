"""repo-review entry points: checks, fixtures and families of the chora-base plugin.

Registered in pyproject.toml so that ``repo-review <path>`` runs these checks next to
any other installed plugin; ``chora-base check`` calls the same functions directly.
"""

from __future__ import annotations

from importlib.resources.abc import Traversable
from pathlib import Path

from repo_review.families import Family

from chora_base.checker.catalog import SAPS
from chora_base.checker.checks import CHECK_CLASSES, ChoraCheck
from chora_base.checker.probe import Probe
from chora_base.checker.project import ProjectInfo, load_project


def _as_path(package: Traversable) -> Path:
    # Our checks read real files and run the project's interpreter, so they need a local
    # directory; a remote (GitHub) traversable gets an empty placeholder path.
    return Path(str(package)) if isinstance(package, Path) else Path("/nonexistent")


def chora_project(package: Traversable) -> ProjectInfo:
    """Fixture: static facts about the project (answers, pyproject, package and CLI names)."""
    return load_project(_as_path(package))


def chora_probe(chora_project: ProjectInfo) -> Probe:
    """Fixture: the lazily-run behaviour probe (runs in the project's interpreter)."""
    return Probe(chora_project)


def repo_review_checks() -> dict[str, ChoraCheck]:
    return {cls.__name__: cls() for cls in CHECK_CLASSES}


def repo_review_families() -> dict[str, Family]:
    return {sap.slug: Family(name=f"SAP {sap.name}", order=sap.order, description=sap.description) for sap in SAPS}
