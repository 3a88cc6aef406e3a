"""Errors the registry's operations raise; each has one stable code on every interface."""

from __future__ import annotations

from ..core.errors import DomainError, StoreUnavailable, Unauthorized, Unavailable

__all__ = [
    "ERRORS",
    "InstanceNotFound",
    "LeaseMismatch",
    "RevisionCompacted",
    "RevisionConflict",
    "ServiceNotFound",
    "StoreUnavailable",
    "TooManyWatches",
]


class InstanceNotFound(DomainError):
    """No instance is registered under this name and instance id."""

    code = "instance_not_found"
    title = "Instance not registered"
    http_status = 404
    exit_code = 3
    hint = "Register the instance again with `register`; list the name's instances with `get`."


class ServiceNotFound(DomainError):
    """No instance at all is registered under this name."""

    code = "service_not_found"
    title = "Service not registered"
    http_status = 404
    exit_code = 3
    hint = "Call `list` to see the registered names; the server may not have registered yet."


class RevisionCompacted(DomainError):
    """The watch index is outside the history the registry keeps: list again, then watch."""

    code = "revision_compacted"
    title = "Watch index too old"
    http_status = 410
    exit_code = 4
    hint = "Call `list` (or `get`) again, then `watch` from the index it answers."


class LeaseMismatch(Unauthorized):
    """The call did not carry this instance's lease token (nor the operator token)."""

    code = "lease_mismatch"
    title = "Not the owner of this instance"
    http_status = 403
    exit_code = 5
    hint = "Send the lease token `register` answered for this instance, or register it again."


class RevisionConflict(DomainError):
    """Another process kept changing the store while this write retried; try again."""

    code = "revision_conflict"
    title = "Concurrent change"
    http_status = 409
    exit_code = 4
    hint = "Retry the call: another process changed the store at the same moment."
    retryable = True


class TooManyInstances(DomainError):
    """The registry (or this service name) holds as many instances as it takes."""

    code = "too_many_instances"
    title = "Registry full"
    http_status = 409
    exit_code = 4
    hint = "Deregister instances that are gone (or wait until they lapse), or raise MANIFEST_MAX_INSTANCES."


class TooManyWatches(Unavailable):
    """Every long-poll slot of this server is taken; retry later (or with wait=0)."""

    code = "too_many_watches"
    title = "Too many long polls"
    http_status = 503
    exit_code = 6
    hint = "Retry shortly, or call `watch` with wait=0 and poll less often."
    retryable = True


ERRORS: tuple[type[DomainError], ...] = (
    InstanceNotFound,
    ServiceNotFound,
    RevisionCompacted,
    LeaseMismatch,
    RevisionConflict,
    TooManyWatches,
    StoreUnavailable,
)
