"""The domain code an owner adds to a rendered Advanced project to expose a saga as a long-running
operation and to record and consume events, appended to its own files by the runtime tests
(``tests/composition/test_runtime.py``). Each step logs every attempt and undo to the SQLite file
named by ``TRIP_LOG``, which is what the tests read."""

SERVICE = '''

import os
import sqlite3
import time
from pathlib import Path

from pydantic import BaseModel

from ..core import events
from ..core.events import Event
from ..core.saga import Saga, SagaStatus, Step, StepContext
from ..core.saga_operation import follow
from ..core.store import transaction


def _log() -> sqlite3.Connection:
    conn = sqlite3.connect(os.environ["TRIP_LOG"], timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, saga TEXT, step TEXT, kind TEXT, pid INTEGER)"
    )
    return conn


class TripDeclined(Exception):
    code = "trip_declined"


def _do(name: str):
    def run(ctx: StepContext) -> dict[str, str]:
        _log().execute(
            "INSERT INTO log (saga, step, kind, pid) VALUES (?, ?, 'do', ?)", (ctx.saga_id, name, os.getpid())
        )
        if ctx.input.get("fail_step") == name:
            raise TripDeclined(f"{name} declined")
        if ctx.input.get("hold_step") == name:  # the test cancels, or kills the server, meanwhile
            folder = Path(os.environ["TRIP_LOG"]).parent
            (folder / f"{ctx.saga_id}.{name}.started").touch()
            while not (folder / f"{ctx.saga_id}.release").exists():
                time.sleep(0.02)
        return {"key": ctx.idempotency_key}

    return run


def _undo(name: str):
    def undo(ctx: StepContext, result: dict[str, str]) -> None:
        _log().execute(
            "INSERT INTO log (saga, step, kind, pid) VALUES (?, ?, 'undo', ?)", (ctx.saga_id, name, os.getpid())
        )

    return undo


TRIP = Saga("trip", [Step(name, _do(name), _undo(name)) for name in ("reserve", "charge", "confirm")])


def book_trip(
    self,
    trip: Slug,
    fail_step: str | None = None,
    hold_step: str | None = None,
    *,
    progress: Progress = NO_PROGRESS,
    cancel: Cancellation = NEVER,
) -> SagaStatus:
    """Book a trip as a saga: reserve, charge, confirm."""
    steps = {"trip": trip, "fail_step": fail_step, "hold_step": hold_step}
    return follow(TRIP, steps, progress, cancel, saga_id=f"trip-{trip}")


class Fact(BaseModel):
    n: int


class Handled(BaseModel):
    facts: int
    effects: int
    inbox: int
    unsent: int


def record_fact(self, n: int) -> Fact:
    """Record a fact; its event commits with it and goes out through the outbox."""
    conn = self.repository._conn()
    with transaction(conn, write=True):
        conn.execute("INSERT INTO facts (n) VALUES (?)", (n,))
        events.record(conn, "fact.recorded", {"n": n})
    return Fact(n=n)


def handled(self) -> Handled:
    """How many facts were recorded, and handled by the consumer."""
    conn = self.repository._conn()
    count = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    return Handled(
        facts=count("SELECT count(*) FROM facts"),
        effects=count("SELECT count(*) FROM fact_effects"),
        inbox=count("SELECT count(*) FROM inbox"),
        unsent=count("SELECT count(*) FROM outbox WHERE sent_at IS NULL"),
    )


@events.consumes("fact.*")
def count_fact(conn: sqlite3.Connection, event: Event) -> None:
    conn.execute("INSERT INTO fact_effects (event_id, n) VALUES (?, ?)", (event.id, event.data["n"]))


Service.book_trip = book_trip
Service.record_fact = record_fact
Service.handled = handled
'''

REPOSITORY = """

from ..core import events as _events

MIGRATIONS = (
    *MIGRATIONS,
    _events.OUTBOX_MIGRATION,
    _events.INBOX_MIGRATION,
    "CREATE TABLE facts (n INTEGER NOT NULL)",
    "CREATE TABLE fact_effects (event_id TEXT NOT NULL, n INTEGER NOT NULL)",
)
"""

TABLE = """

from .core.saga_operation import SagaFailed

OPERATIONS = (
    *OPERATIONS,
    Operation(Service.book_trip, "POST", "/trips", long_running=True, errors=(SagaFailed,)),
    Operation(Service.record_fact, "POST", "/facts"),
    Operation(Service.handled, "GET", "/facts/handled", read_only=True),
)
"""
