"""One error model for every interface.

A ``DomainError`` subclass names a stable ``code`` plus the HTTP status and CLI exit code
that represent it; each interface turns it into its own shape (problem+json, exit code,
MCP ``is_error`` result) from these class attributes, so the same condition reads the same
everywhere.

CLI exit codes (``<cli> --help`` prints the full table, the domain's codes included):

====  =====================================================================================
code  meaning
====  =====================================================================================
0     success
1     unexpected error (``internal_error``; the CLI prints the path of a log holding the
      traceback) or an error code this client does not know (``remote_error``)
2     the call or the configuration is wrong: ``validation_error``, ``unknown_operation``,
      ``payload_too_large``, ``invalid_settings`` (a setting, ``--url``, ``--host``/``--port``
      or the data folder)
3, 4  the domain's own errors (``domain/errors.py``); a domain may also use 9 and above
5     ``unauthorized``
6     ``unavailable``: a remote server could not be reached; ``timeout``: it did not answer
      within the call's deadline
7     ``store_unavailable``: the store could not be opened or did not answer in time
8     ``address_in_use``: ``serve`` could not bind its address
====  =====================================================================================

Codes 1, 2 and 5-8 belong to the classes here: a domain error uses one only by subclassing
the class that owns it (a rendered test checks this), so a script can tell an infrastructure
failure from a domain answer by the exit code alone.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error a caller is meant to see."""

    code: ClassVar[str] = "domain_error"
    title: ClassVar[str] = "Request failed"
    http_status: ClassVar[int] = 400
    exit_code: ClassVar[int] = 1
    #: Whether the same call may succeed if tried again later (a transient fault). Callers
    #: retry only errors that say so, and only calls that are safe to repeat.
    retryable: ClassVar[bool] = False
    by_code: ClassVar[dict[str, type[DomainError]]] = {}
    #: Set on errors of a call to another server (``core/peer_errors.py``): the peer's name (also
    #: in the problem object) and whether the request may have reached it.
    peer: str | None = None
    sent: bool = True

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Only classes that name their own code are addressable; intermediate bases are not.
        if "code" in cls.__dict__:
            DomainError.by_code[cls.code] = cls

    def to_problem(self, type_prefix: str) -> dict[str, Any]:
        """RFC 9457 problem object with the stable ``code`` extension member."""
        problem: dict[str, Any] = {
            "type": f"{type_prefix}:{self.code}",
            "title": self.title,
            "status": self.http_status,
            "detail": self.detail,
            "code": self.code,
            "retryable": self.retryable,
        }
        if self.errors:
            problem["errors"] = self.errors
        if self.peer is not None:
            problem["peer"] = self.peer
        return problem

    @classmethod
    def from_problem(cls, problem: dict[str, Any]) -> DomainError:
        """Rebuild the error a remote server reported, as the same class when it is known."""
        error_cls = DomainError.by_code.get(str(problem.get("code")), RemoteError)
        error = error_cls(str(problem.get("detail", "")), errors=problem.get("errors"))
        if error_cls is RemoteError:
            error.remote_code = str(problem.get("code", "internal_error"))
        if isinstance(problem.get("peer"), str):
            error.peer = problem["peer"]  # the server that failed behind the one called
        return error


class ValidationFailed(DomainError):
    code = "validation_error"
    title = "Invalid input"
    http_status = 422
    exit_code = 2


class UnknownOperation(DomainError):
    code = "unknown_operation"
    title = "Unknown operation"
    http_status = 404
    exit_code = 2


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    title = "Request too large"
    http_status = 413
    exit_code = 2


# Refused by the HTTP guard before any operation runs (interfaces/guard.py).
class HostNotAllowed(DomainError):
    code = "host_not_allowed"
    title = "Host not allowed"
    http_status = 400
    exit_code = 2


class OriginNotAllowed(DomainError):
    code = "origin_not_allowed"
    title = "Origin not allowed"
    http_status = 403
    exit_code = 2


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    title = "Unsupported media type"
    http_status = 415
    exit_code = 2


class Unauthorized(DomainError):
    code = "unauthorized"
    title = "Not authorized"
    http_status = 401
    exit_code = 5


class Unavailable(DomainError):
    code = "unavailable"
    title = "Service unavailable"
    http_status = 503
    exit_code = 6
    retryable = True


class Timeout(Unavailable):
    """A call to another server did not complete within its deadline (it may have run there)."""

    code = "timeout"
    title = "Timed out"
    http_status = 504


class StoreUnavailable(DomainError):
    """The server's store did not answer within its deadline; nothing was changed."""

    code = "store_unavailable"
    title = "Store unavailable"
    http_status = 503
    exit_code = 7
    retryable = True


class AddressInUse(DomainError):
    """The address a server was asked to bind is taken (CLI ``serve`` only)."""

    code = "address_in_use"
    title = "Address in use"
    http_status = 503
    exit_code = 8


class InvalidSettings(DomainError):
    """A setting (environment variable or command-line option) has a value that cannot work."""

    code = "invalid_settings"
    title = "Invalid settings"
    http_status = 500
    exit_code = 2


class InternalError(DomainError):
    code = "internal_error"
    title = "Internal error"
    http_status = 500
    exit_code = 1


class RemoteError(DomainError):
    """A remote server reported a code this client does not know."""

    code = "remote_error"
    title = "Remote error"
    http_status = 502
    exit_code = 1
    remote_code: str = "remote_error"
    #: The HTTP status the remote server answered with, when it answered.
    peer_status: int | None = None


#: Exit codes reserved for the classes above: domain errors pick others (see the table on top).
RESERVED_EXIT_CODES: frozenset[int] = frozenset({1, 2, 5, 6, 7, 8})


def validation_failed(errors: list[dict[str, Any]]) -> ValidationFailed:
    """Turn pydantic-style error dicts into one ValidationFailed, the same on every interface."""
    cleaned = [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "value_error")),
        }
        for err in errors
    ]
    parts = [f"{'.'.join(e['loc']) or 'input'}: {e['msg']}" for e in cleaned]
    return ValidationFailed("; ".join(parts) or "Invalid input", errors=cleaned)
