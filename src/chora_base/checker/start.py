"""Start the behaviour probe before anything heavy is imported.

The probe (a separate interpreter importing the project's web and MCP stacks) is the long
pole of a check. ``chora-base check`` starts it first, then imports repo-review and rich
and runs the static checks while it works. This module imports only light modules.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from pathlib import Path

from chora_base.checker.probe import Probe
from chora_base.checker.project import load_project


def start_probe(path: Path, python: Path | None, select: Iterable[str], ignore: Iterable[str]) -> Probe:
    """A Probe for the project at ``path``, already running if a selected check needs it."""
    from chora_base.checker.checks import CHECK_CLASSES

    select_set, ignore_set = set(select), set(ignore)

    def allowed(name: str) -> bool:
        # Same rule as repo-review's is_allowed (exact ID or its letter prefix), without
        # importing repo-review yet.
        def matches(selectors: set[str]) -> bool:
            return name in selectors or name.rstrip("0123456789") in selectors

        return (not select_set or matches(select_set) or "*" in select_set) and not matches(ignore_set)

    probe = Probe(load_project(path), python)
    if any(allowed(cls.__name__) and "chora_probe" in inspect.signature(cls.check).parameters for cls in CHECK_CLASSES):
        probe.start()
    return probe
