"""Notes: keeps notes and publishes them to the search
index as one saga; announces each publication and
deletion as an event.

Native Python API::

    from notes import Service, get_settings
    notes = Service.from_settings(get_settings())
    notes.create_note(slug="groceries", title="Groceries")
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core.errors import DomainError
    from .core.settings import Settings, get_settings
    from .domain.service import Service
    from .operations import OPERATIONS

__all__ = ["OPERATIONS", "DomainError", "Service", "Settings", "get_settings"]


def __getattr__(name: str) -> Any:
    # Loaded on first use, so that the CLI's `--help` imports neither pydantic nor the domain.
    if name == "Service":
        from .core.native import native_api
        from .domain import service
        from .operations import OPERATIONS

        value: Any = native_api(service.Service, OPERATIONS)  # validated like every interface
    elif name == "OPERATIONS":
        from .operations import OPERATIONS as value
    elif name == "DomainError":
        from .core.errors import DomainError as value
    elif name in {"Settings", "get_settings"}:
        from .core import settings

        value = getattr(settings, name)
    else:
        raise AttributeError(name)
    globals()[name] = value
    return value
