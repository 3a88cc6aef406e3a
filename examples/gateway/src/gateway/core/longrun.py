"""What a long-running operation's handler receives, and the errors every interface shows for
it (its state, as the interfaces show it, is in ``operation_status.py``).

An operation marked ``long_running=True`` in the table may declare two keyword parameters typed
``Progress`` and ``Cancellation``. They are filled in by whoever runs the operation and are
hidden from every input schema (CLI options, REST body, MCP tool schema, client methods)::

    def reindex(self, *, progress: Progress = NO_PROGRESS, cancel: Cancellation = NEVER) -> Done:
        for i, item in enumerate(items):
            cancel.raise_if_requested()  # stops here with state `cancelled`
            ...
            progress.report((i + 1) / len(items), f"indexed {item}")

The defaults make a direct call (a unit test, a script) work without either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .errors import DomainError, Unavailable, UnknownOperation


class Progress:
    """How far the operation is: a fraction from 0 to 1 and a short message for people."""

    def __init__(self, sink: Callable[[float, str], None] | None = None) -> None:
        self._sink = sink

    def report(self, fraction: float, message: str = "") -> None:
        if self._sink is not None:
            self._sink(min(max(float(fraction), 0.0), 1.0), message[:500])


class Cancellation:
    """Set when a caller asked the operation to stop; the handler checks it between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self) -> None:
        self._event.set()

    def raise_if_requested(self) -> None:
        if self._event.is_set():
            raise OperationCancelled("The operation was cancelled on request")

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking at once on a cancel request; True if one came."""
        return self._event.wait(seconds)


#: Defaults for direct calls: reports go nowhere, and nobody can cancel.
NO_PROGRESS = Progress()
NEVER = Cancellation()
INJECTED: tuple[type, ...] = (Progress, Cancellation)


class OperationNotFound(UnknownOperation):
    code = "operation_not_found"
    title = "Operation not found"
    hint = "Check the operation id; finished operations are kept only for a while."


class TooManyOperations(Unavailable):
    """The server already runs as many long-running operations as it allows at once."""

    code = "too_many_operations"
    title = "Too many operations running"
    hint = "Wait for a running operation to finish, then start this one again."


class OperationInterrupted(Unavailable):
    """The process running the operation stopped (crash, kill, restart) before it finished."""

    code = "interrupted"
    title = "Operation interrupted"
    hint = "Start the operation again; check first whether its partial work is acceptable."


class OperationCancelled(DomainError):
    """The operation stopped because a caller cancelled it."""

    code = "cancelled"
    title = "Operation cancelled"
    http_status = 409
    exit_code = 9  # the first code past the core's and the example domain's
    hint = "Start the operation again if its result is still wanted."
