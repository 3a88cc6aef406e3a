"""One error model for every interface.

A ``DomainError`` subclass names a stable ``code`` plus the HTTP status and CLI exit code
that represent it; each interface turns it into its own shape (problem+json, exit code,
MCP ``is_error`` result) from these class attributes, so the same condition reads the same
everywhere.
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
        return problem

    @classmethod
    def from_problem(cls, problem: dict[str, Any]) -> DomainError:
        """Rebuild the error a remote server reported, as the same class when it is known."""
        error_cls = DomainError.by_code.get(str(problem.get("code")), RemoteError)
        error = error_cls(str(problem.get("detail", "")), errors=problem.get("errors"))
        if error_cls is RemoteError:
            error.remote_code = str(problem.get("code", "internal_error"))
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
