"""Durable sagas: ordered steps, each with a compensation, run as a DBOS workflow.

A saga is declared once, at import time, as a name and its steps::

    reserve = Saga("reserve-room", [
        Step("hold", hold_room, release_room),
        Step("charge", charge_card, refund_card),
        Step("confirm", send_confirmation),
    ])
    saga_id = reserve.start({"room": "r1", "card": "c9"})
    status = sagas.wait(saga_id, timeout_seconds=30)   # SagaStatus: state, per-step status

Contract:

- Steps run in order. Each step's result is checkpointed in the saga database before the next
  starts, so a step that completed is never run again, even after a crash of the process.
- A step interrupted by a crash runs again when the process comes back (DBOS recovers pending
  workflows on launch). Its effect must therefore be idempotent: ``ctx.idempotency_key`` (saga
  id + step name, the same on every attempt) is what to pass to a peer or a unique column.
- When a step fails (after retrying errors marked ``retryable``), the completed steps are
  compensated in reverse order; a compensation that finds the thing already gone (``Gone``, or
  an error whose status is 404 / code ends in ``not_found``) counts as done. A compensation that
  keeps failing leaves the saga ``failed``: it needs a person.
- The saga database is SQLite in the data folder by default (one process; see ``saga_dbos.sqlite_engine``
  for what survives what), or Postgres when ``<PREFIX>_SAGA_DATABASE_URL`` is a
  ``postgresql://`` URL (several processes or hosts).

Call ``launch(settings)`` once per process, after every saga is declared and before starting
any: it opens the saga database and resumes the sagas a crash interrupted. A server does this
itself at start-up when its domain declared a saga (``core/runtime.py``); ``core/saga_operation.py``
turns a saga into a long-running operation.

Declaring a saga imports nothing heavy: DBOS (about half a second to import, more on a busy
machine) is imported by ``launch``, so a CLI command or ``--help`` of a domain that declares
sagas stays as fast as one that does not. The saga workflow itself and the embedded database
are in ``saga_dbos.py``; the functions here import DBOS when first called.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from .about import NAME

if TYPE_CHECKING:
    from dbos import WorkflowHandle

    from .settings import Settings

#: The one DBOS workflow every saga runs as (its steps are looked up by saga name).
WORKFLOW_NAME = "saga"
#: Attempts of a step failing with a ``retryable`` error (each with the same idempotency key).
STEP_ATTEMPTS = 3
#: Attempts of a compensation before the saga is left ``failed`` for a person to finish.
COMPENSATION_ATTEMPTS = 6
#: How often ``wait`` looks at the saga database.
POLL_SECONDS = 0.05
#: The DBOS message topic a cancel request travels on (see ``request_cancel``).
CANCEL_TOPIC = "saga.cancel"


@dataclass(frozen=True)
class StepContext:
    """What a step (or its compensation) gets: the saga's input and the earlier steps' results."""

    saga_id: str
    step: str
    input: Mapping[str, Any]
    results: Mapping[str, Any] = field(default_factory=dict)

    @property
    def idempotency_key(self) -> str:
        """The same on every attempt of this step of this saga; unique across sagas and steps."""
        return f"{self.saga_id}:{self.step}"


#: A step's action: returns a JSON-like result, checkpointed and handed to later steps.
Action = Callable[[StepContext], Any]
#: Undoes a completed step; gets the step's own result.
Compensation = Callable[[StepContext, Any], None]


@dataclass(frozen=True)
class Step:
    name: str
    action: Action
    #: None: nothing to undo (a read, a notification, or the last step).
    compensate: Compensation | None = None


class Gone(Exception):
    """Raise from a compensation when what it should undo no longer exists: counts as undone."""


class SagaNotFound(LookupError):
    """No saga with that id in the saga database."""


StepState = Literal["pending", "done", "failed", "compensated", "compensation_failed"]
SagaState = Literal["running", "completed", "compensating", "compensated", "failed", "cancelled"]


class StepStatus(BaseModel):
    name: str
    state: StepState = "pending"
    error: str | None = None


class SagaStatus(BaseModel):
    """A saga's state as the saga database records it; ``done`` once it can change no more."""

    id: str
    saga: str
    state: SagaState
    steps: list[StepStatus]
    results: dict[str, Any] = {}
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.state in ("completed", "compensated", "failed", "cancelled")


_SAGAS: dict[str, Saga] = {}
_launch_lock = threading.Lock()
_launched = False


class Saga:
    """A named, ordered list of steps. Declare it at import time (module level)."""

    def __init__(self, name: str, steps: Sequence[Step]) -> None:
        names = [step.name for step in steps]
        if not steps or len(set(names)) != len(names) or any(":" in n for n in [name, *names]):
            raise ValueError("A saga needs at least one step, unique step names, and no ':' in names")
        if name in _SAGAS:
            raise ValueError(f"A saga named {name!r} is already declared")
        self.name = name
        self.steps = tuple(steps)
        _SAGAS[name] = self

    def start(self, saga_input: Mapping[str, Any] | BaseModel, saga_id: str | None = None) -> str:
        """Start the saga in the background and return its id. Starting again with the same
        ``saga_id`` returns the same saga (the id is the start's idempotency key)."""
        return self._start(saga_input, saga_id).workflow_id

    def start_cancellable(self, saga_input: Mapping[str, Any] | BaseModel, saga_id: str | None = None) -> str:
        """Like ``start``, for a saga that ``request_cancel`` may stop: before each step it looks
        for a cancel request (a checkpointed read, so a resumed saga decides as it did before the
        crash) and, given one, compensates the steps done and ends ``cancelled``."""
        return self._start(saga_input, saga_id, cancellable=True).workflow_id

    def run(
        self, saga_input: Mapping[str, Any] | BaseModel, saga_id: str | None = None, timeout_seconds: float = 60
    ) -> SagaStatus:
        """Start the saga and wait until it is done (or ``timeout_seconds`` pass)."""
        handle = self._start(saga_input, saga_id)
        future = getattr(handle, "future", None)  # started by this process: DBOS's running future
        if isinstance(future, Future):
            futures_wait([future], timeout=timeout_seconds)
            return status(handle.workflow_id)
        return wait(handle.workflow_id, timeout_seconds)

    def _start(
        self, saga_input: Mapping[str, Any] | BaseModel, saga_id: str | None, cancellable: bool = False
    ) -> WorkflowHandle[Any]:
        _require_launched()
        from dbos import DBOS, SetWorkflowID

        from .saga_dbos import run_saga

        data = saga_input.model_dump(mode="json") if isinstance(saga_input, BaseModel) else dict(saga_input)
        with SetWorkflowID(saga_id or f"{self.name}-{uuid.uuid4().hex}"):
            if cancellable:  # a third argument only when set: sagas started before it existed resume as they were
                return DBOS.start_workflow(run_saga, self.name, data, True)
            return DBOS.start_workflow(run_saga, self.name, data)


def declared() -> dict[str, Saga]:
    """The sagas this process declared, by name (a server launches DBOS only when there is one)."""
    return dict(_SAGAS)


def launched() -> bool:
    return _launched


def database_url(settings: Settings) -> str:
    """The saga database: the configured URL, else a SQLite file in the data folder."""
    if settings.saga_database_url:
        return settings.saga_database_url
    return f"sqlite:///{settings.data_dir / 'sagas.sqlite3'}"


def launch(settings: Settings, *, resume: bool = True) -> None:
    """Open the saga database and resume interrupted sagas (once per process; later calls do
    nothing). Declare every saga before this: resumed sagas are looked up by name.

    ``resume=False`` (a CLI command running a saga operation in-process, a unit test) runs under
    an executor id of its own: it resumes nothing, so it never runs a step of a saga that a
    server sharing the saga database is running at that moment. A saga such a process leaves
    unfinished stays pending (its operation reads ``interrupted``)."""
    global _launched
    with _launch_lock:
        if _launched:
            return
        from dbos import DBOS, DBOSConfig

        from .saga_dbos import sqlite_engine  # declares the saga workflow to DBOS, before DBOS() as it wants

        url = database_url(settings)
        # DBOS wants 3-256 of [a-z0-9_-] as the application's name.
        name = re.sub(r"[^a-z0-9_-]+", "-", NAME.lower()).strip("-")[:200]
        config: DBOSConfig = {"name": f"{name}-sagas", "system_database_url": url, "log_level": "WARNING"}
        if not resume:  # DBOS resumes the pending sagas of its own executor id ("local" by default)
            config["executor_id"] = f"once-{uuid.uuid4().hex}"
        if url.startswith("sqlite:///") and not settings.saga_database_url:
            config["system_database_engine"] = sqlite_engine(settings.data_dir / "sagas.sqlite3", settings.saga_fsync)
        DBOS(config=config)
        DBOS.launch()
        _launched = True


def shutdown() -> None:
    """Close the saga database (tests, or a process that launches again with other settings)."""
    global _launched
    with _launch_lock:
        if _launched:
            from dbos import DBOS

            DBOS.destroy()
            _launched = False


def request_cancel(saga_id: str) -> None:
    """Ask a saga started with ``start_cancellable`` to stop: it compensates the steps it did and
    ends ``cancelled``, unless its last step completed first (it then ends ``completed``). A
    saga started with ``start`` ignores the request."""
    _require_launched()
    from dbos import DBOS

    DBOS.send(saga_id, "cancel", topic=CANCEL_TOPIC)


def status(saga_id: str) -> SagaStatus:
    """The saga's state now, built from the workflow's checkpoints (no extra writes per step)."""
    _require_launched()
    from dbos import DBOS

    workflow = DBOS.get_workflow_status(saga_id)
    if workflow is None or workflow.name != WORKFLOW_NAME or not workflow.input:
        raise SagaNotFound(f"No saga with id {saga_id!r}")
    saga = _SAGAS.get(workflow.input["args"][0])
    if saga is None:
        raise SagaNotFound(f"Saga {saga_id!r} is of a kind this process does not declare")
    steps = {step.name: StepStatus(name=step.name) for step in saga.steps}
    compensating = False
    for record in DBOS.list_workflow_steps(saga_id):
        kind, _, name = str(record["function_name"]).partition(":")
        if name not in steps or kind not in ("do", "undo"):
            continue
        error = None if record["error"] is None else _describe(record["error"])
        if kind == "do":
            steps[name].state, steps[name].error = ("failed", error) if error else ("done", None)
            compensating = compensating or error is not None
        else:
            compensating = True
            steps[name].state = "compensation_failed" if error else "compensated"
            steps[name].error = error
    state: SagaState = "compensating" if compensating else "running"
    results: dict[str, Any] = {}
    error: str | None = None
    if workflow.status == "SUCCESS" and isinstance(workflow.output, dict):
        state, results, error = workflow.output["state"], workflow.output["results"], workflow.output["error"]
    elif workflow.status in ("ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"):
        state, error = "failed", _describe(workflow.error) if workflow.error else workflow.status
    elif workflow.status == "CANCELLED":
        state = "cancelled"
    return SagaStatus(id=saga_id, saga=saga.name, state=state, steps=list(steps.values()), results=results, error=error)


def wait(saga_id: str, timeout_seconds: float = 60) -> SagaStatus:
    """Wait until the saga is done or ``timeout_seconds`` pass; return its state either way.
    Works for a saga started by any process sharing the saga database (it polls the database)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        current = status(saga_id)
        if current.done or time.monotonic() >= deadline:
            return current
        time.sleep(POLL_SECONDS)


def already_gone(exc: BaseException) -> bool:
    """Whether a compensation's error says the thing to undo does not exist (any more)."""
    if isinstance(exc, Gone) or getattr(exc, "http_status", None) == 404:
        return True
    codes = (getattr(exc, "code", None), getattr(exc, "remote_code", None))
    return any(isinstance(code, str) and code.endswith("not_found") for code in codes)


def _require_launched() -> None:
    if not _launched:
        raise RuntimeError("Sagas are not launched: call core.saga.launch(settings) once at start-up")


def _describe(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return f"{code}: {exc}" if isinstance(code, str) else f"{type(exc).__name__}: {exc}"


def _retryable(exc: BaseException) -> bool:
    return bool(getattr(exc, "retryable", False))
