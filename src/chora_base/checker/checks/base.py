"""Shared base class of all checks and small helpers for fix-it messages."""

from __future__ import annotations

from typing import ClassVar

from chora_base.checker.catalog import Tier, check_url


class ChoraCheck:
    """Base of every chora-base check (repo-review check protocol).

    Subclasses set ``family`` (SAP slug), ``tier``, ``rationale`` and a one-line class
    docstring (the title), and implement ``check(...)`` returning ``""``/True for a pass,
    a Markdown fix-it message for a failure, or None to skip.
    """

    family: ClassVar[str]
    tier: ClassVar[Tier]
    rationale: ClassVar[str]
    requires: ClassVar[frozenset[str]] = frozenset()

    @property
    def url(self) -> str:
        return check_url(self.family, type(self).__name__)


def bullet(items: list[str], limit: int = 10) -> str:
    shown = [f"- {item}" for item in items[:limit]]
    if len(items) > limit:
        shown.append(f"- ... and {len(items) - limit} more")
    return "\n".join(shown)


def upgrade_hint(tier: str) -> str:
    return f"A project rendered at the {tier} tier has this; to move up, run `copier update --data tier={tier}`."
