"""Manifest registry: capability servers register, heartbeat, report health and find each other by name.

Native Python API::

    from manifest import Service, get_settings
    notes = Service.from_settings(get_settings())
    notes.create_note(slug="groceries", title="Groceries")
"""

from typing import Any

from .core.errors import DomainError
from .core.native import native_api
from .domain import service as _domain
from .operations import OPERATIONS

#: The domain service with input validated like every other interface.
Service = native_api(_domain.Service, OPERATIONS)

__all__ = ["OPERATIONS", "DomainError", "Service", "Settings", "get_settings"]


def __getattr__(name: str) -> Any:
    # Settings load pydantic-settings; importing it lazily keeps `--help` fast.
    if name in {"Settings", "get_settings"}:
        from .core import settings

        return getattr(settings, name)
    raise AttributeError(name)
