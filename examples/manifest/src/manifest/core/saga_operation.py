"""A saga as a long-running operation: one table entry shows it on every interface.

The handler starts the saga and follows it (``follow``); the operation's progress is the saga's
(fraction = steps done / steps, message = the step and its state), a cancel request reaches the
saga, which compensates what it did and ends ``cancelled``, and a saga that compensated ends
the operation ``failed`` with a ``saga_failed`` problem naming the step and its error::

    # domain/service.py
    def book_trip(
        self, trip: str, *, progress: Progress = NO_PROGRESS, cancel: Cancellation = NEVER
    ) -> SagaStatus:
        # (a docstring here: the operation's summary on every interface)
        return follow(TRIP, {"trip": trip}, progress, cancel)

    # operations.py
    Operation(Service.book_trip, "POST", "/trips", long_running=True, errors=(SagaFailed,))

A server launches the saga database at start-up (``core/runtime.py``); a direct call (a unit
test, a CLI command run in-process) launches it here on first use, from the settings, without
resuming anything (see ``saga.launch``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from .errors import DomainError
from .longrun import NEVER, NO_PROGRESS, Cancellation, OperationCancelled, Progress
from .saga import Saga, SagaStatus, launch, launched, request_cancel, status

#: How often the operation looks at the saga's checkpoints while it runs.
FOLLOW_POLL_SECONDS = 0.1


class SagaFailed(DomainError):
    """A step failed and the saga compensated the steps before it (or could not: state ``failed``)."""

    code = "saga_failed"
    title = "Saga failed"
    http_status = 409
    exit_code = 10  # past the core's (1-8) and ``cancelled`` (9)
    hint = "Read the problem's `saga` member for the step that failed and why; fix that, then start it again."

    #: The saga's record (set where the saga ran; a client rebuilding the error from its problem has
    #: it as the problem's ``saga`` member).
    outcome: SagaStatus | None = None

    @classmethod
    def of(cls, outcome: SagaStatus) -> SagaFailed:
        undone = (
            "compensated" if outcome.state == "compensated" else "left for a person to finish (a compensation failed)"
        )
        error = cls(f"Saga {outcome.saga} {outcome.id} failed at {outcome.error}; the steps before it were {undone}")
        error.outcome = outcome
        return error

    def to_problem(self, type_prefix: str) -> dict[str, Any]:
        # The saga's own record rides along: which step failed with what, what was undone.
        problem = super().to_problem(type_prefix)
        if self.outcome is not None:
            problem["saga"] = self.outcome.model_dump(mode="json")
        return problem


def follow(
    saga: Saga,
    saga_input: Mapping[str, Any] | BaseModel,
    progress: Progress = NO_PROGRESS,
    cancel: Cancellation = NEVER,
    *,
    saga_id: str | None = None,
) -> SagaStatus:
    """Start ``saga`` (cancellable) and follow it to its end: return its status once completed,
    raise ``SagaFailed`` once it compensated or failed, ``OperationCancelled`` once a cancel
    request made it compensate. ``saga_id`` makes the start idempotent (same id, same saga)."""
    if not launched():
        from .settings import get_settings

        launch(get_settings(), resume=False)  # never the sagas a server on the same database runs
    started = saga.start_cancellable(saga_input, saga_id=saga_id)
    total = len(saga.steps)
    reported: tuple[float, str] | None = None
    asked = False
    while True:
        current = status(started)
        fraction = sum(step.state != "pending" for step in current.steps) / total
        message = describe(current)
        if (fraction, message) != reported:
            progress.report(fraction, message)
            reported = (fraction, message)
        if current.done:
            break
        if cancel.requested and not asked:
            request_cancel(started)  # the saga sees it before its next step
            asked = True
        if asked:
            time.sleep(FOLLOW_POLL_SECONDS)
        else:
            cancel.wait(FOLLOW_POLL_SECONDS)  # wakes at once on a cancel request
    if current.state == "completed":
        return current
    if current.state == "cancelled":
        raise OperationCancelled(
            f"Saga {current.saga} {current.id} was cancelled; the steps it had done were compensated"
        )
    raise SagaFailed.of(current)


def describe(current: SagaStatus) -> str:
    """One line for people: the step the saga is at and its state."""
    steps = current.steps
    if current.state == "running":
        pending = next((step for step in steps if step.state == "pending"), None)
        return f"{pending.name}: running" if pending else "finishing"
    if current.state == "compensating":
        undone = [step for step in steps if step.state in ("compensated", "compensation_failed")]
        if undone:  # compensation runs last step first: the earliest undone is the latest
            return f"{undone[0].name}: {undone[0].state}"
        failed = next((step for step in steps if step.state == "failed"), None)
        return f"{failed.name}: failed, compensating" if failed else "compensating"
    return f"{current.saga}: {current.state}"
