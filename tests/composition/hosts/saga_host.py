"""A saga host run in a rendered Advanced project's venv: one three-step saga whose effects are
counted in a SQLite file, so the tests can tell which step ran, how often, and what was undone.

    python saga_host.py run    <work dir> <saga id>   # start the saga, wait, print its status
    python saga_host.py resume <work dir> <saga id>   # launch only (DBOS resumes it), wait, print

Steps reserve, charge, confirm. Environment (all optional): FAIL_STEP=<step> makes that step fail
(not retryable); BLOCK_STEP=<step> makes that step apply its effect, write <work>/<step>.started
and wait for <work>/release, so a test can kill the process between effect and checkpoint;
GONE_STEP=<step> makes that step's compensation find its effect already gone.
<PACKAGE>_SAGA_DATABASE_URL picks Postgres; unset, the saga database is SQLite in <work>/data.
"""

from __future__ import annotations

import time

BEGAN = time.monotonic()  # before the imports: "resumed within N s of restart" counts them

import json  # noqa: E402
import os  # noqa: E402
import sqlite3  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from notes_server.core import saga as sagas  # noqa: E402
from notes_server.core.saga import Gone, Saga, Step, StepContext  # noqa: E402
from notes_server.core.settings import Settings  # noqa: E402

WORK = Path(sys.argv[2])
EFFECTS = WORK / "effects.sqlite3"


class StepFailed(Exception):
    code = "payment_declined"


def db() -> sqlite3.Connection:
    conn = sqlite3.connect(EFFECTS, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS attempts (seq INTEGER PRIMARY KEY, step TEXT, kind TEXT, key TEXT, pid INTEGER)"
    )
    conn.execute("CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, step TEXT)")
    conn.execute("CREATE TABLE IF NOT EXISTS undone (seq INTEGER PRIMARY KEY, step TEXT, key TEXT)")
    return conn


def action(step: str):
    def run(ctx: StepContext) -> dict[str, str]:
        conn = db()
        conn.execute(
            "INSERT INTO attempts (step, kind, key, pid) VALUES (?, 'do', ?, ?)",
            (step, ctx.idempotency_key, os.getpid()),
        )
        if os.environ.get("FAIL_STEP") == step:
            raise StepFailed(f"{step} refused")
        # The effect, made idempotent by the key: a re-run after a crash applies it once.
        conn.execute("INSERT OR IGNORE INTO effects (key, step) VALUES (?, ?)", (ctx.idempotency_key, step))
        if os.environ.get("BLOCK_STEP") == step:
            (WORK / f"{step}.started").write_text(str(os.getpid()))
            while not (WORK / "release").exists():
                time.sleep(0.02)
        return {"step": step, "key": ctx.idempotency_key}

    return run


def compensation(step: str):
    def undo(ctx: StepContext, result: dict[str, str]) -> None:
        conn = db()
        conn.execute(
            "INSERT INTO attempts (step, kind, key, pid) VALUES (?, 'undo', ?, ?)", (step, result["key"], os.getpid())
        )
        if os.environ.get("GONE_STEP") == step:
            conn.execute("DELETE FROM effects WHERE key = ?", (result["key"],))  # someone removed it first
        if conn.execute("DELETE FROM effects WHERE key = ?", (result["key"],)).rowcount == 0:
            raise Gone(f"{step} {result['key']} is already gone")
        conn.execute("INSERT INTO undone (step, key) VALUES (?, ?)", (step, result["key"]))

    return undo


TRIP = Saga("trip", [Step(name, action(name), compensation(name)) for name in ("reserve", "charge", "confirm")])


def main() -> None:
    mode, saga_id = sys.argv[1], sys.argv[3]
    db().close()
    imported = time.monotonic()
    import dbos  # noqa: F401 - timed apart from the launch: on a busy machine it is most of it

    dbos_imported = time.monotonic()
    sagas.launch(Settings(data_dir=WORK / "data"))  # imports DBOS; resumes interrupted sagas
    launched = time.monotonic()
    if mode == "run":
        TRIP.start({"trip": saga_id}, saga_id=saga_id)
    status = sagas.wait(saga_id, timeout_seconds=120)
    done = time.monotonic()
    timings = {
        "imports_s": imported - BEGAN,
        "dbos_import_s": dbos_imported - imported,
        "launch_s": launched - dbos_imported,
        "to_done_s": done - BEGAN,
    }
    print(json.dumps({**status.model_dump(mode="json"), "timings": timings}))
    sagas.shutdown()


if __name__ == "__main__":
    main()
