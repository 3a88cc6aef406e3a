"""The errors of a peer call (``core/peers.py``), as the core classes every interface knows.

They are instances, not subclasses: the error model keeps one class per code, and a peer's
failure is ``unavailable``, ``timeout`` or the peer's own code. Each carries ``peer`` (the
peer's name, also in the problem object) and ``sent``: whether the request may have reached
the peer (one that was never sent is safe to try on another instance, whatever it does).

=====================================  =========================================  ============
what happened                          raised                                     ``code``
=====================================  =========================================  ============
no instance, refused, circuit open     ``Unavailable``, ``sent=False``            unavailable
connection lost after sending          ``Unavailable``, ``sent=True``             unavailable
no answer within the deadline          ``Timeout``, ``sent=True``                 timeout
the peer answered with a problem       ``RemoteError``: the peer's ``code``,      the peer's
                                       ``retryable``, ``hint``, status kept
a peer that is not declared            ``InternalError`` (a bug; never sent)      internal_error
=====================================  =========================================  ============
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import DomainError, InternalError, RemoteError, Timeout, Unavailable

if TYPE_CHECKING:
    import httpx


def unreachable(peer: str, detail: str, *, sent: bool) -> Unavailable:
    return _of(Unavailable(detail), peer, sent)


def timed_out(peer: str, detail: str) -> Timeout:
    return _of(Timeout(detail), peer, True)


def undeclared(peer: str) -> InternalError:
    detail = f"Peer {peer!r} is not declared: add it to [tool.chora-base] dependencies"
    return _of(InternalError(detail), peer, False)


def from_peer(peer: str, response: httpx.Response) -> RemoteError:
    """The peer's problem object as a ``RemoteError`` keeping its code, ``retryable`` and status;
    a body that is not a problem (a proxy, a crash) still gets a code."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict) or not isinstance(problem.get("code"), str):
        detail = f"{peer} answered HTTP {response.status_code} without a problem body"
        problem = {"code": "remote_error", "detail": detail, "retryable": response.status_code in (502, 503, 504)}
    errors, hint = problem.get("errors"), problem.get("hint")
    error = RemoteError(
        f"{peer}: {problem.get('detail') or problem.get('title') or problem['code']}",
        errors=errors if isinstance(errors, list) else None,
        hint=hint if isinstance(hint, str) else None,  # the peer knows its own fix
    )
    error.code = error.remote_code = problem["code"]  # type: ignore[misc]  # the peer's, per instance
    error.retryable = problem.get("retryable") is True  # type: ignore[misc]
    error.peer_status = response.status_code
    return _of(error, peer, True)


def _of(error: Any, peer: str, sent: bool) -> Any:
    error.peer, error.sent = peer, sent
    return error


__all__ = ["DomainError", "from_peer", "timed_out", "undeclared", "unreachable"]
