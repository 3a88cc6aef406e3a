"""Errors the registry's operations raise; each has one stable code on every interface."""

from __future__ import annotations

from ..core.errors import DomainError


class InstanceNotFound(DomainError):
    """No instance is registered under this name and instance id."""

    code = "instance_not_found"
    title = "Instance not registered"
    http_status = 404
    exit_code = 3


class ServiceNotFound(DomainError):
    """No instance at all is registered under this name."""

    code = "service_not_found"
    title = "Service not registered"
    http_status = 404
    exit_code = 3


class RevisionCompacted(DomainError):
    """The watch index is outside the history the registry keeps: list again, then watch."""

    code = "revision_compacted"
    title = "Watch index too old"
    http_status = 410
    exit_code = 4


class StoreUnavailable(DomainError):
    """The storage backend did not answer in time; nothing was changed."""

    code = "store_unavailable"
    title = "Registry storage unavailable"
    http_status = 503
    exit_code = 6


ERRORS: tuple[type[DomainError], ...] = (
    InstanceNotFound,
    ServiceNotFound,
    RevisionCompacted,
    StoreUnavailable,
)
