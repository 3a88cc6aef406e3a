"""Where long-running operations' state is kept: a small SQLite file beside the domain's store,
with its own migrations (core/store.py), shared by the server and in-process CLI commands.

A record names the process running it (``owner_pid``). Opening the store marks every record
still pending or running whose process is gone as ``failed`` with an ``interrupted`` problem,
so a server killed mid-operation and started again never shows it "running" forever. Finished
records older than the retention are deleted when the store opens and whenever one finishes.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .longrun import OperationInterrupted, OperationNotFound
from .operation_status import OperationList, OperationStatus
from .store import Migration, connect, migrate, transaction

PROBLEM_TYPE = "urn:" + __name__.split(".")[0] + ":error"
FILE_NAME = "operations.sqlite3"

#: Append only (see core/store.py): stores out there have run every shipped step.
MIGRATIONS: tuple[Migration, ...] = (
    "CREATE TABLE IF NOT EXISTS operations (id TEXT PRIMARY KEY, operation TEXT NOT NULL,"
    " state TEXT NOT NULL, progress REAL NOT NULL, message TEXT NOT NULL, result TEXT, problem TEXT,"
    " created_at REAL NOT NULL, updated_at REAL NOT NULL, revision INTEGER NOT NULL,"
    " owner_pid INTEGER NOT NULL, owner TEXT NOT NULL, cancel_requested INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS operations_by_age ON operations (created_at, id);",
)


#: This process among all that ever had its pid (a restarted container's server often gets the
#: pid its killed predecessor had).
OWNER = uuid.uuid4().hex


def _alive(pid: int, owner: str) -> bool:
    if pid == os.getpid():
        return owner == OWNER
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _cursor(created_at: float, op_id: str) -> str:
    return base64.urlsafe_b64encode(f"o1:{created_at!r}:{op_id}".encode()).decode().rstrip("=")


def _after(cursor: str) -> tuple[float, str]:
    from .errors import validation_failed

    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, stamp, op_id = text.split(":", 2)
        if tag != "o1":
            raise ValueError(tag)
        return float(stamp), op_id
    except (ValueError, UnicodeDecodeError):
        msg = "Not a cursor from this server: pass next_cursor unchanged"
        raise validation_failed([{"loc": ["cursor"], "msg": msg, "type": "value_error"}]) from None


#: The columns of a listed operation: all but its result (see ``page``).
_LISTED = "id, operation, state, progress, message, NULL AS result, problem, created_at, updated_at, revision"


class OperationStore:
    """Operation records in ``<data_dir>/operations.sqlite3``; safe across threads and processes."""

    def __init__(self, data_dir: Path, retention_seconds: float) -> None:
        self.path = data_dir / FILE_NAME
        self.retention = retention_seconds
        self._local = threading.local()
        migrate(self._conn(), MIGRATIONS)
        self.sweep()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
        return conn

    @staticmethod
    def _status(row: sqlite3.Row) -> OperationStatus:
        return OperationStatus(
            id=row["id"],
            operation=row["operation"],
            state=row["state"],
            done=row["state"] in ("succeeded", "failed", "cancelled"),
            progress=row["progress"],
            message=row["message"],
            result=json.loads(row["result"]) if row["result"] else None,
            problem=json.loads(row["problem"]) if row["problem"] else None,
            created_at=datetime.fromtimestamp(row["created_at"], UTC),
            updated_at=datetime.fromtimestamp(row["updated_at"], UTC),
            revision=row["revision"],
        )

    def sweep(self) -> None:
        """Fail the records of processes that are gone; delete finished ones past retention."""
        conn = self._conn()
        rows = conn.execute(
            "SELECT id, owner_pid, owner FROM operations WHERE state IN ('pending', 'running')"
        ).fetchall()
        problem = json.dumps(
            OperationInterrupted(
                "The process running this operation stopped before it finished; start it again"
            ).to_problem(PROBLEM_TYPE)
        )
        for row in rows:
            if not _alive(row["owner_pid"], row["owner"]):
                with transaction(conn, write=True):
                    conn.execute(
                        "UPDATE operations SET state = 'failed', problem = ?, updated_at = ?,"
                        " revision = revision + 1 WHERE id = ? AND state IN ('pending', 'running')",
                        (problem, time.time(), row["id"]),
                    )
        with transaction(conn, write=True):
            conn.execute(
                "DELETE FROM operations WHERE state IN ('succeeded', 'failed', 'cancelled') AND updated_at < ?",
                (time.time() - self.retention,),
            )

    def create(self, operation: str) -> OperationStatus:
        now = time.time()
        op_id = uuid.uuid4().hex
        with transaction(self._conn(), write=True) as conn:
            conn.execute(
                "INSERT INTO operations (id, operation, state, progress, message, created_at, updated_at,"
                " revision, owner_pid, owner) VALUES (?, ?, 'running', 0, '', ?, ?, 1, ?, ?)",
                (op_id, operation, now, now, os.getpid(), OWNER),
            )
        return self.get(op_id)

    def get(self, op_id: str) -> OperationStatus:
        row = self._conn().execute("SELECT * FROM operations WHERE id = ?", (op_id,)).fetchone()
        if row is None:
            raise OperationNotFound(f"No operation with id {op_id!r} (finished ones are kept for a limited time)")
        if row["state"] in ("pending", "running") and not _alive(row["owner_pid"], row["owner"]):
            self.sweep()
            return self.get(op_id)
        return self._status(row)

    def report(self, op_id: str, fraction: float, message: str) -> bool:
        """Record progress; returns whether someone asked (maybe from another process) to cancel."""
        with transaction(self._conn(), write=True) as conn:
            conn.execute(
                "UPDATE operations SET progress = ?, message = ?, updated_at = ?, revision = revision + 1"
                " WHERE id = ? AND state = 'running'",
                (fraction, message, time.time(), op_id),
            )
            row = conn.execute("SELECT cancel_requested FROM operations WHERE id = ?", (op_id,)).fetchone()
        return bool(row and row[0])

    def request_cancel(self, op_id: str) -> OperationStatus:
        with transaction(self._conn(), write=True) as conn:
            conn.execute(
                "UPDATE operations SET cancel_requested = 1, updated_at = ?, revision = revision + 1"
                " WHERE id = ? AND state IN ('pending', 'running')",
                (time.time(), op_id),
            )
        return self.get(op_id)

    def finish(
        self, op_id: str, state: str, *, result: dict[str, Any] | None = None, problem: dict[str, Any] | None = None
    ) -> OperationStatus:
        progress = ", progress = 1" if state == "succeeded" else ""
        with transaction(self._conn(), write=True) as conn:
            conn.execute(
                f"UPDATE operations SET state = ?, result = ?, problem = ?, updated_at = ?{progress},"
                " revision = revision + 1 WHERE id = ?",
                (
                    state,
                    None if result is None else json.dumps(result),
                    None if problem is None else json.dumps(problem),
                    time.time(),
                    op_id,
                ),
            )
        done = self.get(op_id)
        self.sweep()
        return done

    def page(self, limit: int, cursor: str | None) -> OperationList:
        """Newest first, ``limit`` at a time (a keyset page, like the notes list).

        Results are left out (``result`` is null): one result may be large, and a page of them
        would cost the server memory for each reader; a caller reads the operation for its result.
        """
        if cursor is None:
            rows = self._conn().execute(
                f"SELECT {_LISTED} FROM operations ORDER BY created_at DESC, id DESC LIMIT ?", (limit + 1,)
            )
        else:
            stamp, op_id = _after(cursor)
            rows = self._conn().execute(
                f"SELECT {_LISTED} FROM operations WHERE (created_at, id) < (?, ?)"
                " ORDER BY created_at DESC, id DESC LIMIT ?",
                (stamp, op_id, limit + 1),
            )
        found = rows.fetchall()
        more = len(found) > limit
        found = found[:limit]
        last = found[-1] if found else None
        items = [self._status(row) for row in found]
        following = _cursor(last["created_at"], last["id"]) if more and last else None
        return OperationList(items=items, next_cursor=following)
