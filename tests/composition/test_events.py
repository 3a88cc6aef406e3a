"""Events (core/events.py, core/jetstream.py) in a rendered Advanced project: the outbox commits
with the write or not at all; the in-process bus delivers each event once; and 20,000 events go
through a real NATS JetStream server while the broker, the relay and the consumer are killed with
-9 at random points, and every event is handled exactly once (one effects row each).

Producer, relay and consumer are separate processes (hosts/events_host.py) in the render's venv.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.composition.services import NatsServer, nats_server, wait_for

__all__ = ["nats_server"]  # a fixture used by name below

HOST = Path(__file__).parent / "hosts" / "events_host.py"
COUNT = 20_000


@pytest.fixture(scope="module")
def advanced(rendered_project: Callable[[str], Path]) -> Path:
    return rendered_project("advanced")


def host(project: Path, *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTES_SERVER_", "PYTEST"))}
    env.pop("VIRTUAL_ENV", None)
    out = log.open("ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [str(project / ".venv" / "bin" / "python"), str(HOST), *args], env=env, stdout=out, stderr=out
    )


def finish(proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    assert proc.wait(timeout=timeout) == 0


def count(store: Path, sql: str) -> int:
    if not store.exists():
        return 0
    with sqlite3.connect(store, timeout=30) as conn:
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:  # the table is not created yet
            return 0


def kill9(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_event_commits_with_its_write_or_not_at_all(advanced: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(advanced / ".venv" / "bin" / "python"), str(HOST), "atomic", str(tmp_path / "p.sqlite3")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert "write transaction" in outcome["outside_transaction"]
    assert "NOT NULL" in outcome["failed_write"]
    assert (outcome["items"], outcome["outbox"]) == (0, 0)


def test_in_process_bus_handles_each_event_once(advanced: Path, tmp_path: Path) -> None:
    finish(host(advanced, "local", str(tmp_path), "2000", log=tmp_path / "local.log"))
    consumer, producer = tmp_path / "consumer.sqlite3", tmp_path / "producer.sqlite3"
    assert count(consumer, "SELECT count(*) FROM effects") == 2000
    assert count(consumer, "SELECT count(DISTINCT n) FROM effects") == 2000
    assert count(consumer, "SELECT count(*) FROM inbox WHERE consumer = 'items'") == 2000
    assert count(consumer, "SELECT count(*) FROM inbox WHERE consumer = 'other'") == 0  # note.> matched none
    assert count(producer, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0


def test_20000_events_exactly_once_through_kill9_of_broker_relay_and_consumer(
    advanced: Path, tmp_path: Path, nats_server: NatsServer
) -> None:
    seed = int(os.environ.get("CHAOS_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    producer_db, consumer_db = tmp_path / "producer.sqlite3", tmp_path / "consumer.sqlite3"

    def handled() -> int:
        return count(consumer_db, "SELECT count(*) FROM effects")

    def sent() -> int:
        return count(producer_db, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL")

    def start(role: str) -> subprocess.Popen[bytes]:
        store = producer_db if role == "relay" else consumer_db
        mode = "relay" if role == "relay" else "consume"
        return host(advanced, mode, str(store), nats_server.url, log=tmp_path / f"{role}.log")

    producer = host(advanced, "produce", str(producer_db), str(COUNT), log=tmp_path / "produce.log")
    procs = {"relay": start("relay"), "consumer": start("consumer")}
    # Each of the three killed three times, in random order, at random points of the consumer's progress.
    victims = ["broker", "relay", "consumer"] * 3
    rng.shuffle(victims)
    marks = sorted(rng.sample(range(COUNT // 50, COUNT - COUNT // 20), len(victims)))
    kills: Counter[str] = Counter()
    caught_up_after_downtime = False
    try:
        for victim, mark in zip(victims, marks, strict=True):
            wait_for(lambda m=mark: handled() >= m, 300, f"{mark} events handled (seed {seed})", interval=0.01)
            if victim == "broker":
                nats_server.kill9()
                nats_server.start()
            else:
                kill9(procs[victim])
                if victim == "consumer" and not caught_up_after_downtime:
                    # Stay down while the relay publishes a good share more, then catch up.
                    target = min(sent() + 1000, COUNT)
                    wait_for(lambda t=target: sent() >= t, 300, f"the relay to publish {target} (seed {seed})")
                    caught_up_after_downtime = True
                procs[victim] = start(victim)
            kills[victim] += 1
        finish(producer)
        wait_for(lambda: handled() >= COUNT, 600, f"all {COUNT} events handled (seed {seed})", interval=0.1)
        wait_for(lambda: sent() >= COUNT, 120, "the relay to mark every event sent")
    finally:
        for proc in [producer, *procs.values()]:
            kill9(proc)

    assert kills == {"broker": 3, "relay": 3, "consumer": 3}
    assert count(producer_db, "SELECT count(*) FROM items") == COUNT
    assert count(consumer_db, "SELECT count(*) FROM effects") == COUNT, f"seed {seed}"
    assert count(consumer_db, "SELECT count(DISTINCT event_id) FROM effects") == COUNT
    assert count(consumer_db, "SELECT count(DISTINCT n) FROM effects") == COUNT
    assert count(consumer_db, "SELECT count(*) FROM inbox") == COUNT
