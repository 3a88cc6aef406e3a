"""Embedded sagas per second (core/saga.py on DBOS, SQLite saga database), next to the same
steps called directly.

A driver process in a rendered Advanced project's venv declares a three-step saga whose steps
each write one row, keyed by the step's idempotency key, to a SQLite store opened as the
template's own store is (``core/store.connect``: WAL, synchronous=NORMAL) — the shape of a real
step: a small idempotent write. In interleaved rounds it runs:

- ``direct``: the three step functions called in a row, no saga (the baseline);
- ``saga, one at a time``: ``saga.run()`` then the next (each checkpoint waits for its fsync);
- ``saga, 16 at once``: sixteen started, then all awaited (how a server sees concurrent callers).

twice: with the default saga database (WAL, no fsync per checkpoint: survives a crash of the
process) and with ``<PREFIX>_SAGA_FSYNC=1`` (an fsync per checkpoint: survives a power cut).

Target: embedded sagas >= 50 per second (default settings, one at a time). The driver's CPU time
is printed beside its wall time: DBOS work shows there, fsync waits do not.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _common import advanced_project, child_env, print_table, run_timed, write_results

TARGET_PER_S = 50.0

DRIVER = r"""
import json, sys, threading, time
from pathlib import Path
from notes_server.core import saga as sagas
from notes_server.core.saga import Saga, Step, StepContext
from notes_server.core.settings import Settings
from notes_server.core.store import connect

work, rounds, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
local = threading.local()

def db():
    conn = getattr(local, "conn", None)
    if conn is None:
        conn = local.conn = connect(work / "effects.sqlite3")  # the template's store settings
        conn.execute("CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY)")
    return conn

def step(name):
    def run(ctx):
        db().execute("INSERT OR IGNORE INTO effects (key) VALUES (?)", (ctx.idempotency_key,))
        return {"key": ctx.idempotency_key}
    def undo(ctx, result):
        db().execute("DELETE FROM effects WHERE key = ?", (result["key"],))
    return Step(name, run, undo)

STEPS = [step(n) for n in ("reserve", "charge", "confirm")]
TRIP = Saga("trip", STEPS)
sagas.launch(Settings(data_dir=work / "data"))

def direct(i):
    for s in STEPS:
        s.action(StepContext(f"direct-{i}", s.name, {"i": i}))

def one_at_a_time(r):
    for i in range(count):
        assert TRIP.run({"i": i}, saga_id=f"seq-{r}-{i}").state == "completed"

def sixteen_at_once(r):
    ids = []
    for start in range(0, count, 16):
        batch = [TRIP.start({"i": i}, saga_id=f"par-{r}-{i}") for i in range(start, min(start + 16, count))]
        ids += batch
        for saga_id in batch:
            assert sagas.wait(saga_id).state == "completed"
    return ids

samples = {"direct": [], "saga, one at a time": [], "saga, 16 at once": []}
one_at_a_time("warm")
for r in range(rounds):
    for name in samples:
        began = time.perf_counter()
        if name == "direct":
            for i in range(count):
                direct(f"{r}-{i}")
        elif name == "saga, one at a time":
            one_at_a_time(r)
        else:
            sixteen_at_once(r)
        samples[name].append(count / (time.perf_counter() - began))
rows = db().execute("SELECT count(*) FROM effects").fetchone()[0]
print(json.dumps({"per_second": samples, "effects": rows}))
sagas.shutdown()
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=100, help="sagas per round and mode")
    parser.add_argument("--vcs-ref", default="HEAD", help="template commit to render; '' for the working tree")
    args = parser.parse_args()

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-saga-") as tmp:
        _, python = advanced_project(Path(tmp), vcs_ref=args.vcs_ref or None)
        driver = Path(tmp) / "driver.py"
        driver.write_text(DRIVER)
        for setting, env in (("default", {}), ("fsync", {"NOTES_SERVER_SAGA_FSYNC": "1"})):
            work = Path(tmp) / setting
            work.mkdir()
            argv = [str(python), str(driver), str(work), str(args.rounds), str(args.count)]
            wall, cpu, proc = run_timed(argv, child_env(**env), timeout=1800)
            if proc.returncode != 0:
                raise SystemExit(f"driver failed:\n{proc.stderr.decode()[-3000:]}")
            out = json.loads(proc.stdout.decode().strip().splitlines()[-1])
            per_s: dict[str, list[float]] = out["per_second"]
            medians = {name: sorted(values)[len(values) // 2] for name, values in per_s.items()}
            base = medians["direct"]
            print(f"\nsaga database: {setting} ({wall:.1f} s wall, {cpu:.1f} s CPU: {cpu / wall:.2f} of a core)")
            print_table(
                ["mode", "median /s", "min /s", "max /s", "vs direct"],
                [
                    [name, f"{m:.1f}", f"{min(per_s[name]):.1f}", f"{max(per_s[name]):.1f}", f"{m / base:.4f}x"]
                    for name, m in medians.items()
                ],
            )
            results[setting] = {
                "per_second": per_s,
                "medians": medians,
                "ratios_vs_direct": {name: m / base for name, m in medians.items()},
                "effects_rows": out["effects"],
                "driver_wall_s": wall,
                "driver_cpu_s": cpu,
            }

    sequential = results["default"]["medians"]["saga, one at a time"]
    ok = sequential >= TARGET_PER_S
    print(
        f"\nembedded sagas: {sequential:.1f}/s one at a time"
        f" (target >= {TARGET_PER_S:.0f}/s): {'met' if ok else 'MISSED'}"
    )
    write_results(
        "saga_throughput",
        {**results, "target_per_s": TARGET_PER_S, "target_met": ok, "rounds": args.rounds, "count": args.count},
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
