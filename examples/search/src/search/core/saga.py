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
- The saga database is SQLite in the data folder by default (one process; see ``_sqlite_engine``
  for what survives what), or Postgres when ``<PREFIX>_SAGA_DATABASE_URL`` is a
  ``postgresql://`` URL (several processes or hosts).

Call ``launch(settings)`` once per process, after every saga is declared and before starting
any: it opens the saga database and resumes the sagas a crash interrupted.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa  # comes with dbos: only to open the embedded saga database (see _sqlite_engine)
from dbos import DBOS, DBOSConfig, SetWorkflowID, WorkflowHandle
from pydantic import BaseModel

from .about import NAME

if TYPE_CHECKING:
    from .settings import Settings

#: The one DBOS workflow every saga runs as (its steps are looked up by saga name).
WORKFLOW_NAME = "saga"
#: Attempts of a step failing with a ``retryable`` error (each with the same idempotency key).
STEP_ATTEMPTS = 3
#: Attempts of a compensation before the saga is left ``failed`` for a person to finish.
COMPENSATION_ATTEMPTS = 6
#: How often ``wait`` looks at the saga database.
POLL_SECONDS = 0.05


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

    def _start(self, saga_input: Mapping[str, Any] | BaseModel, saga_id: str | None) -> WorkflowHandle[Any]:
        _require_launched()
        data = saga_input.model_dump(mode="json") if isinstance(saga_input, BaseModel) else dict(saga_input)
        with SetWorkflowID(saga_id or f"{self.name}-{uuid.uuid4().hex}"):
            return DBOS.start_workflow(_run_saga, self.name, data)


def database_url(settings: Settings) -> str:
    """The saga database: the configured URL, else a SQLite file in the data folder."""
    if settings.saga_database_url:
        return settings.saga_database_url
    return f"sqlite:///{settings.data_dir / 'sagas.sqlite3'}"


def launch(settings: Settings) -> None:
    """Open the saga database and resume interrupted sagas (once per process; later calls do
    nothing). Declare every saga before this: resumed sagas are looked up by name."""
    global _launched
    with _launch_lock:
        if _launched:
            return
        url = database_url(settings)
        # DBOS wants 3-256 of [a-z0-9_-] as the application's name.
        name = re.sub(r"[^a-z0-9_-]+", "-", NAME.lower()).strip("-")[:200]
        config: DBOSConfig = {"name": f"{name}-sagas", "system_database_url": url, "log_level": "WARNING"}
        if url.startswith("sqlite:///") and not settings.saga_database_url:
            config["system_database_engine"] = _sqlite_engine(settings.data_dir / "sagas.sqlite3", settings.saga_fsync)
        DBOS(config=config)
        DBOS.launch()
        _launched = True


def _sqlite_engine(path: Path, fsync: bool) -> sa.Engine:
    """The embedded saga database, as DBOS would open it (IMMEDIATE transactions, a long busy
    timeout, foreign keys) but in WAL mode with a chosen ``synchronous`` level, which DBOS has no
    setting for. WAL + NORMAL: a commit is safe once written, so a crash of the process (kill -9,
    out of memory) loses nothing; an OS crash or power cut may lose the last checkpoints (their
    steps then run again, with the same idempotency keys). ``saga_fsync`` (FULL) closes that gap
    with an fsync per checkpoint, at several times the cost per saga."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")  # kept by the file
    engine = sa.create_engine(f"sqlite:///{path}", pool_size=20, max_overflow=0, pool_timeout=30, pool_pre_ping=True)
    synchronous = "FULL" if fsync else "NORMAL"

    @sa.event.listens_for(engine, "connect")
    def configure(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = "IMMEDIATE"
        for pragma in ("busy_timeout=30000", "foreign_keys=ON", f"synchronous={synchronous}"):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    return engine


def shutdown() -> None:
    """Close the saga database (tests, or a process that launches again with other settings)."""
    global _launched
    with _launch_lock:
        if _launched:
            DBOS.destroy()
            _launched = False


def status(saga_id: str) -> SagaStatus:
    """The saga's state now, built from the workflow's checkpoints (no extra writes per step)."""
    _require_launched()
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


def _compensate(step: Step, ctx: StepContext, result: Any) -> None:
    assert step.compensate is not None
    try:
        step.compensate(ctx, result)
    except Exception as exc:
        if not already_gone(exc):
            raise


def _register() -> Callable[..., dict[str, Any]]:
    """Declare the saga workflow to DBOS (at import, as DBOS wants before launch)."""

    @DBOS.workflow(name=WORKFLOW_NAME)
    def run_saga(name: str, saga_input: dict[str, Any]) -> dict[str, Any]:
        saga = _SAGAS[name]
        saga_id = str(DBOS.workflow_id)
        results: dict[str, Any] = {}
        completed: list[Step] = []
        for step in saga.steps:
            ctx = StepContext(saga_id, step.name, saga_input, dict(results))
            try:
                results[step.name] = DBOS.run_step(
                    {
                        "name": f"do:{step.name}",
                        "retries_allowed": True,
                        "max_attempts": STEP_ATTEMPTS,
                        "interval_seconds": 0.5,
                        "should_retry": _retryable,
                    },
                    step.action,
                    ctx,
                )
            except Exception as exc:
                for done in reversed(completed):
                    if done.compensate is None:
                        continue
                    undo_ctx = StepContext(saga_id, done.name, saga_input, dict(results))
                    DBOS.run_step(
                        {
                            "name": f"undo:{done.name}",
                            "retries_allowed": True,
                            "max_attempts": COMPENSATION_ATTEMPTS,
                            "interval_seconds": 1.0,
                        },
                        _compensate,
                        done,
                        undo_ctx,
                        results[done.name],
                    )
                return {"state": "compensated", "results": results, "error": f"{step.name}: {_describe(exc)}"}
            completed.append(step)
        return {"state": "completed", "results": results, "error": None}

    return run_saga


_run_saga = _register()
