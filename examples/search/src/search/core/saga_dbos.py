"""Everything of ``core/saga.py`` that needs DBOS: the one workflow every saga runs as, and the
embedded saga database. Imported by ``saga.launch`` (and so never by a process that runs no
saga): importing DBOS costs about half a second, several on a busy machine.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import sqlalchemy as sa  # comes with dbos: only to open the embedded saga database
from dbos import DBOS

from .saga import (
    _SAGAS,
    CANCEL_TOPIC,
    COMPENSATION_ATTEMPTS,
    STEP_ATTEMPTS,
    WORKFLOW_NAME,
    Step,
    StepContext,
    _describe,
    _retryable,
    already_gone,
)


def sqlite_engine(path: Path, fsync: bool) -> sa.Engine:
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


def _compensate(step: Step, ctx: StepContext, result: Any) -> None:
    assert step.compensate is not None
    try:
        step.compensate(ctx, result)
    except Exception as exc:
        if not already_gone(exc):
            raise


def _undo(saga_id: str, saga_input: dict[str, Any], completed: list[Step], results: dict[str, Any]) -> None:
    """Compensate the completed steps, last first; each undo is a checkpointed step of its own."""
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


@DBOS.workflow(name=WORKFLOW_NAME)
def run_saga(name: str, saga_input: dict[str, Any], cancellable: bool = False) -> dict[str, Any]:
    saga = _SAGAS[name]
    saga_id = str(DBOS.workflow_id)
    results: dict[str, Any] = {}
    completed: list[Step] = []
    for step in saga.steps:
        # recv is checkpointed: after a crash the resumed saga sees the answer it saw before, so
        # it never takes the other branch past steps it already ran.
        if cancellable and DBOS.recv(CANCEL_TOPIC, timeout_seconds=0) is not None:
            _undo(saga_id, saga_input, completed, results)
            return {"state": "cancelled", "results": results, "error": f"cancelled on request before {step.name}"}
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
            _undo(saga_id, saga_input, completed, results)
            return {"state": "compensated", "results": results, "error": f"{step.name}: {_describe(exc)}"}
        completed.append(step)
    return {"state": "completed", "results": results, "error": None}
