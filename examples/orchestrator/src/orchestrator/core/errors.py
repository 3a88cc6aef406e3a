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
    #: What to do differently, as one short imperative sentence, sent beside ``code`` on every
    #: interface so a caller (often an agent) can recover without parsing ``detail``. Each class
    #: states the general fix; an instance may carry a more specific one (``hint=``), e.g. the
    #: field to correct.
    hint: str = "Read the detail, correct the request and send it again."
    by_code: ClassVar[dict[str, type[DomainError]]] = {}
    #: Set on errors of a call to another server (``core/peer_errors.py``): the peer's name (also
    #: in the problem object) and whether the request may have reached it.
    peer: str | None = None
    sent: bool = True

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None, hint: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        if hint:
            self.hint = hint

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
            "hint": self.hint,
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
        hint = problem.get("hint") if isinstance(problem.get("hint"), str) else None  # the server's own words
        error = error_cls(str(problem.get("detail", "")), errors=problem.get("errors"), hint=hint)
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
    hint = "Correct the fields named in `errors` to match the input schema and send the call again."


class UnknownOperation(DomainError):
    code = "unknown_operation"
    title = "Unknown operation"
    http_status = 404
    exit_code = 2
    hint = "List the operations (MCP `tools/list`, REST `/openapi.json`, CLI `--help`) and call one that exists."


class MethodNotAllowed(DomainError):
    code = "method_not_allowed"
    title = "Method not allowed"
    http_status = 405
    exit_code = 2
    hint = "Use one of the methods the `Allow` header lists for this path."


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    title = "Request too large"
    http_status = 413
    exit_code = 2
    hint = "Send a smaller request body, or split the work into several calls."


# Refused by the HTTP guard before any operation runs (interfaces/guard.py).
class HostNotAllowed(DomainError):
    code = "host_not_allowed"
    title = "Host not allowed"
    http_status = 400
    exit_code = 2
    hint = "Address the server by a host name it allows, or add this one to its allowed hosts setting."


class OriginNotAllowed(DomainError):
    code = "origin_not_allowed"
    title = "Origin not allowed"
    http_status = 403
    exit_code = 2
    hint = "Call from an allowed origin, or add this origin to the allowed origins setting of the server."


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    title = "Unsupported media type"
    http_status = 415
    exit_code = 2
    hint = "Send the body as JSON with `Content-Type: application/json`."


class Unauthorized(DomainError):
    code = "unauthorized"
    title = "Not authorized"
    http_status = 401
    exit_code = 5
    hint = "Send a valid token as `Authorization: Bearer <token>`."


class Unavailable(DomainError):
    code = "unavailable"
    title = "Service unavailable"
    http_status = 503
    exit_code = 6
    retryable = True
    hint = "Try again later; if the call changes something, check whether it took effect first."


class Timeout(Unavailable):
    """A call to another server did not complete within its deadline (it may have run there)."""

    code = "timeout"
    title = "Timed out"
    http_status = 504
    hint = "Check whether the call took effect before repeating it, then try again later."


class StoreUnavailable(DomainError):
    """The server's store did not answer within its deadline; nothing was changed."""

    code = "store_unavailable"
    title = "Store unavailable"
    http_status = 503
    exit_code = 7
    retryable = True
    hint = "Try again shortly; nothing was changed."


class AddressInUse(DomainError):
    """The address a server was asked to bind is taken (CLI ``serve`` only)."""

    code = "address_in_use"
    title = "Address in use"
    http_status = 503
    exit_code = 8
    hint = "Choose another port, or stop the program that holds this one."


class InvalidSettings(DomainError):
    """A setting (environment variable or command-line option) has a value that cannot work."""

    code = "invalid_settings"
    title = "Invalid settings"
    http_status = 500
    exit_code = 2
    hint = "Fix the setting named in the detail and run the command again."


class InternalError(DomainError):
    code = "internal_error"
    title = "Internal error"
    http_status = 500
    exit_code = 1
    hint = "Do not repeat the call as it is; report it with its request id."


class RemoteError(DomainError):
    """A remote server reported a code this client does not know."""

    code = "remote_error"
    title = "Remote error"
    http_status = 502
    exit_code = 1
    hint = "Read the code and detail the remote server sent: this client does not know that code."
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
    # The specific fix: each field by name with what it needs, so a caller need not map `errors` itself.
    fixes = [f"`{'.'.join(e['loc'])}` ({e['msg'].rstrip('.')})" for e in cleaned if e["loc"]]
    hint = f"Correct {', '.join(fixes[:5])} and send the call again." if fixes else None
    return ValidationFailed("; ".join(parts) or "Invalid input", errors=cleaned, hint=hint)
