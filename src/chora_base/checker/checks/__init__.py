"""All check classes, grouped by SAP. The class name is the check ID."""

from __future__ import annotations

from chora_base.checker.checks import (
    bootstrap,
    composition,
    gateway,
    interface_design,
    multi_interface,
    registry,
    template,
)
from chora_base.checker.checks.base import ChoraCheck

CHECK_CLASSES: tuple[type[ChoraCheck], ...] = (
    *template.CHECKS,
    *multi_interface.CHECKS,
    *interface_design.CHECKS,
    *gateway.CHECKS,
    *bootstrap.CHECKS,
    *registry.CHECKS,
    *composition.CHECKS,
)

__all__ = ["CHECK_CLASSES", "ChoraCheck"]
