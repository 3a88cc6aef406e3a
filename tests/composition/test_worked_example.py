"""The worked example of the composition SAP, with real processes on loopback: the registry, a
NATS JetStream server, ``examples/search`` and ``examples/notes`` (both rendered from the template
at the Advanced tier; the world is ``chora_base.docs.worked_example``, which the docs use too).

- ``publish_note`` on notes is a saga over both servers (draft here, index on search through the
  peers, mark published), run as a long-running operation (``core/saga_operation.follow``), the
  saga runtime launched and the outbox relayed by the server's start-up (``core/runtime.py``);
- search keeps its index current from notes' ``note.published`` / ``note.deleted`` facts (outbox,
  JetStream, inbox), through the consumer it declares with ``events.consumes``.

The design under test when search dies during a publish: the index step waits for search and the
saga completes once search is back, with the index request applied once (its idempotency key).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from chora_base.docs.worked_example import World, install, wait_for
from tests.registry.harness import OUTPUT


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("worked-example")
    # The examples' environment is kept between sessions (tests/output, git-ignored) and made
    # again when their dependencies change; an install failure fails the tests, never skips them.
    built = World(root, install(OUTPUT / "worked-example"))
    try:
        built.start()
        yield built
    finally:
        built.close()


def rows(store: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(store, timeout=30) as conn:
        return conn.execute(sql).fetchall()


def test_both_servers_register_and_notes_declares_search(world: World) -> None:
    (notes,) = world.registered("notes")
    assert notes["dependencies"] == ["search"]
    assert world.registered("search")[0]["dependencies"] == []


def test_publish_is_a_saga_and_the_note_becomes_searchable(world: World) -> None:
    before = world.stats()
    op = world.wait_operation(world.start_publish("tea", "Green tea", "steep for two minutes", ["kitchen"]))

    assert op["state"] == "succeeded", op
    assert op["result"] == {"slug": "tea", "state": "published", "version": 1, "indexed": True}
    assert op["message"].startswith("completed: saga publish-tea-")
    assert world.search("steep minutes") == ["tea"]
    entry = world.call("search", "GET", "/index/tea").json()
    assert (entry["title"], entry["applied"]) == ("Green tea", 1)
    # The fact went through the outbox and JetStream too: handled once by search's inbox.
    wait_for(lambda: world.stats()["events_handled"] == before["events_handled"] + 1, 60, "note.published")
    assert world.stats()["keyed_requests"] == before["keyed_requests"] + 1


def test_a_refusal_by_search_compensates_the_draft(world: World) -> None:
    op = world.wait_operation(world.start_publish("bang", "!!"))  # no word search can index

    assert op["state"] == "failed"
    problem = op["problem"]
    assert (problem["code"], problem["status"]) == ("saga_failed", 409)
    assert "failed at index: nothing_to_index" in problem["detail"]
    # The saga's own record rides along: the refused step, and the draft undone.
    assert problem["saga"]["state"] == "compensated"
    steps = {step["name"]: step["state"] for step in problem["saga"]["steps"]}
    assert steps == {"draft": "compensated", "index": "failed", "publish": "pending"}
    assert world.call("notes", "GET", "/notes/bang").status_code == 404  # the draft was deleted
    assert world.call("search", "GET", "/index/bang").status_code == 404


def test_search_killed_during_a_publish_the_saga_resumes_when_it_returns(world: World) -> None:
    before = world.stats()
    world.procs["search"].kill9()
    op_id = world.start_publish("outage", "Written during an outage", "search was down")

    # The saga stored the draft and now waits on search; every interface shows it as progress.
    waiting = wait_for(
        lambda: "waiting for search" in (op := world.operation(op_id))["message"] and op, 60, "the saga to wait"
    )
    assert waiting["state"] == "running" and not waiting["done"]
    assert waiting["message"].startswith("index: waiting for search (")
    assert waiting["progress"] == pytest.approx(1 / 3)  # the draft step done, the index step waiting
    assert world.call("notes", "GET", "/notes/outage").status_code == 200  # the draft

    world.procs["search"].start()
    op = world.wait_operation(op_id)

    assert op["state"] == "succeeded", op
    assert op["result"]["indexed"] is True
    assert world.search("outage") == ["outage"]
    after = world.stats()
    # The index request was applied once, whatever number of attempts reached search.
    assert world.call("search", "GET", "/index/outage").json()["applied"] == 1
    assert after["keyed_requests"] == before["keyed_requests"] + 1
    keys = rows(world.store("search"), "SELECT key FROM applied WHERE slug = 'outage'")
    assert len(keys) == 1 and keys[0][0].endswith(":index")
    # Each of notes' steps ran once: one draft, one publication, one fact.
    facts = rows(
        world.store("notes"), "SELECT count(*) FROM outbox WHERE subject = 'note.published' AND data LIKE '%outage%'"
    )
    assert facts == [(1,)]


def test_notes_killed_mid_saga_resumes_it_on_restart(world: World) -> None:
    world.procs["search"].kill9()
    op_id = world.start_publish("resumed", "Published across a crash of notes")
    wait_for(lambda: "waiting for search" in world.operation(op_id)["message"], 60, "the saga to wait on search")
    world.procs["notes"].kill9()  # the saga's process dies in the middle of its index step
    world.procs["search"].start()
    world.procs["notes"].start()  # same port and data: the saga runtime resumes the saga

    wait_for(lambda: world.search("crash") == ["resumed"], 60, "the resumed saga to index the note")
    wait_for(
        lambda: rows(world.store("notes"), "SELECT state FROM publications WHERE slug = 'resumed'") == [("published",)],
        60,
        "the resumed saga to mark the note published",
    )
    # draft ran before the crash and not again (one draft, the same saga's); index ran again
    # with the same key (applied once); publish once (one fact).
    assert world.call("search", "GET", "/index/resumed").json()["applied"] == 1
    published = "SELECT count(*) FROM outbox WHERE subject = 'note.published' AND data LIKE '%\"resumed\"%'"
    assert rows(world.store("notes"), published) == [(1,)]
    # The operation that was running in the killed process says so.
    assert world.operation(op_id)["problem"]["code"] == "interrupted"


def test_search_stopped_misses_nothing_and_handles_each_fact_once(world: World) -> None:
    slugs = [f"batch-{n}" for n in range(3)]
    for slug in slugs:
        op = world.wait_operation(world.start_publish(slug, f"Batch note {slug}", "catch up later"))
        assert op["state"] == "succeeded", op
    wait_for(lambda: len(world.search("catch up")) == len(slugs), 60, "the batch to be searchable")
    handled = world.stats()["events_handled"]

    world.procs["search"].stop()
    for slug in slugs:  # facts search is not there to hear
        assert world.call("notes", "DELETE", f"/notes/{slug}").status_code == 200
    wait_for(
        lambda: rows(world.store("notes"), "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == [(0,)],
        60,
        "notes' relay to publish the deletions",
    )

    world.procs["search"].start()
    wait_for(lambda: world.stats()["events_handled"] == handled + len(slugs), 60, "search to catch up")

    assert world.search("catch up") == []
    log = rows(world.store("search"), "SELECT count(*), count(DISTINCT event_id) FROM event_log")
    inbox = rows(world.store("search"), "SELECT count(*) FROM inbox")
    assert log[0][0] == log[0][1] == inbox[0][0]  # one effect per event, one inbox row per event
    deleted = rows(world.store("search"), "SELECT slug FROM event_log WHERE subject = 'note.deleted' ORDER BY seq")
    assert [slug for (slug,) in deleted] == slugs
