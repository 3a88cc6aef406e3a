"""The registry domain on its own: records, health semantics, revisions and watch (SQLite)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing

import pytest

from manifest.domain.errors import InstanceNotFound, RevisionCompacted, ServiceNotFound
from manifest.domain.repository import SQLiteRepository
from manifest.domain.service import RegistrySettings, Service
from manifest.operations import OPERATIONS

LEASE = "lease-for-domain-tests"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def settings(**overrides: object) -> RegistrySettings:
    base = {"ttl_seconds": 15, "grace_seconds": 60, "removals_per_minute": 6}
    return RegistrySettings(**(base | overrides))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make(tmp_path, clock):
    made: list[Service] = []

    def factory(**overrides: object) -> Service:
        repo = SQLiteRepository(tmp_path / "registry.sqlite3")
        svc = Service(repo, settings(**overrides), clock=clock, wall=lambda: clock.now + 1e9)
        made.append(svc)
        return svc

    yield factory
    for svc in made:
        svc.close()


def page(svc: Service, **kw: object):
    """Run the async list to completion, as the CLI does."""
    return asyncio.run(svc.list(**kw))


def watch(svc: Service, **kw: object):
    """Run the async watch to completion, as the CLI does."""
    return asyncio.run(svc.watch(**kw))


def reg(svc: Service, name: str = "notes", instance_id: str = "a", **kw: object):
    return svc.register(name=name, instance_id=instance_id, lease_token=LEASE, **kw)


def test_register_is_idempotent(make):
    svc = make()
    first = reg(svc, version="1.0", tags=["x"])
    again = reg(svc, version="1.0", tags=["x"])
    assert first.revision == again.revision == 1
    assert len(page(svc).instances) == 1
    changed = reg(svc, version="1.1")
    assert changed.version == "1.1" and changed.revision == 2
    assert len(svc.get(name="notes").instances) == 1


def test_new_instances_are_bounded_in_all_and_per_service(make):
    """A client holding the token cannot fill the registry: a new instance past either bound is
    refused with a stable code; refreshing one already there, and other names, still work."""
    from manifest.domain.errors import TooManyInstances

    svc = make(max_instances=4, max_instances_per_service=2)
    for i in range(2):
        svc.register(name="flood", instance_id=f"i{i}", lease_token=LEASE)
    with pytest.raises(TooManyInstances, match="'flood' has 2"):
        svc.register(name="flood", instance_id="i2", lease_token=LEASE)
    svc.register(name="flood", instance_id="i1", lease_token=LEASE)  # a refresh takes no room
    svc.register(name="other", instance_id="o0", lease_token=LEASE)
    svc.register(name="third", instance_id="t0", lease_token=LEASE)
    with pytest.raises(TooManyInstances, match="holds 4"):
        svc.register(name="fourth", instance_id="f0", lease_token=LEASE)
    svc.deregister(name="flood", instance_id="i0", lease_token=LEASE)
    svc.register(name="fourth", instance_id="f0", lease_token=LEASE)


def test_update_changes_only_given_fields(make):
    svc = make()
    reg(svc, version="1.0", tags=["x"], metadata={"k": "v"})
    updated = svc.update(lease_token=LEASE, name="notes", instance_id="a", version="2.0")
    assert updated.version == "2.0" and updated.tags == ["x"] and updated.metadata == {"k": "v"}
    with pytest.raises(InstanceNotFound):
        svc.update(lease_token=LEASE, name="notes", instance_id="zz", version="2.0")


def test_ttl_marks_unknown_then_grace_removes(make, clock):
    svc = make()
    reg(svc)
    clock.advance(15)
    svc.sweep()
    assert svc.get(name="notes").instances[0].status == "up"
    clock.advance(0.5)
    svc.sweep()
    assert svc.get(name="notes").instances[0].status == "unknown"
    clock.advance(59)
    svc.sweep()
    assert svc.get(name="notes").instances[0].status == "unknown"
    clock.advance(1.5)
    svc.sweep()
    with pytest.raises(ServiceNotFound):
        svc.get(name="notes")


def test_heartbeat_brings_unknown_back_and_keeps_reported_status(make, clock):
    svc = make()
    reg(svc)
    svc.report_status(lease_token=LEASE, name="notes", instance_id="a", status="draining", reason="upgrade")
    clock.advance(16)
    svc.sweep()
    assert svc.get(name="notes").instances[0].status == "unknown"
    ack = svc.heartbeat(lease_token=LEASE, name="notes", instance_id="a")
    assert ack.status == "draining"
    svc.report_status(lease_token=LEASE, name="notes", instance_id="a", status="up")
    assert svc.heartbeat(lease_token=LEASE, name="notes", instance_id="a").status == "up"
    with pytest.raises(InstanceNotFound):
        svc.heartbeat(lease_token=LEASE, name="notes", instance_id="other")


def test_heartbeats_touch_memory_only_and_make_no_events(make, clock):
    svc = make()
    reg(svc)
    revision = svc.revision
    for _ in range(50):
        clock.advance(1)
        svc.heartbeat(lease_token=LEASE, name="notes", instance_id="a")
        svc.sweep()
    assert svc.revision == revision  # flap damping: no transition, no event, no write
    assert watch(svc, index=revision, wait=0).events == []


def test_only_transitions_are_events(make, clock):
    svc = make()
    reg(svc)
    start = svc.revision
    svc.report_status(lease_token=LEASE, name="notes", instance_id="a", status="down")
    svc.report_status(lease_token=LEASE, name="notes", instance_id="a", status="down")
    svc.report_status(lease_token=LEASE, name="notes", instance_id="a", status="down")
    events = watch(svc, index=start, wait=0).events
    assert [(e.type, e.status) for e in events] == [("status", "down")]


def test_restart_keeps_everything_and_gives_one_ttl_of_grace(make, clock):
    svc = make()
    for i in range(5):
        reg(svc, instance_id=f"i{i}")
    svc.report_status(lease_token=LEASE, name="notes", instance_id="i0", status="draining")
    svc.close()
    clock.advance(600)  # the registry was down for ten minutes
    restarted = make()
    listed = page(restarted)
    assert len(listed.instances) == 5
    assert {i.instance_id: i.status for i in listed.instances}["i0"] == "draining"
    clock.advance(14)
    restarted.sweep()
    assert all(i.status != "unknown" for i in page(restarted).instances)
    for i in range(1, 5):
        restarted.heartbeat(lease_token=LEASE, name="notes", instance_id=f"i{i}")
    clock.advance(2)
    restarted.sweep()
    statuses = {i.instance_id: i.status for i in page(restarted).instances}
    assert statuses == {"i0": "unknown", "i1": "up", "i2": "up", "i3": "up", "i4": "up"}


def test_restart_does_not_remove_unknown_instances_before_a_ttl(make, clock):
    svc = make()
    reg(svc)
    clock.advance(16)
    svc.sweep()
    svc.close()
    clock.advance(500)  # well past the grace while the registry was down
    restarted = make()
    restarted.sweep()  # before any traffic nothing can lapse or go
    clock.advance(30)
    restarted.sweep()
    assert restarted.get(name="notes").instances[0].status == "unknown"
    clock.advance(16)
    restarted.sweep()
    with pytest.raises(ServiceNotFound):
        restarted.get(name="notes")


def test_self_preservation_defers_and_rate_limits_removals(make, clock):
    svc = make(removals_per_minute=6)
    for i in range(10):
        reg(svc, instance_id=f"i{i}")
    clock.advance(16)  # nobody heartbeats: 10 of 10 up instances lapse in one sweep
    svc.sweep()
    listed = page(svc)
    assert listed.self_preservation is True
    assert {i.status for i in listed.instances} == {"unknown"}
    clock.advance(61)
    svc.sweep()
    left = len(page(svc).instances)
    assert 9 <= left < 10  # at most one removal per 10 s
    for _ in range(3):
        clock.advance(10)
        svc.sweep()
    assert 5 <= len(page(svc).instances) <= 7
    # heartbeats come back: the mode ends by itself
    for i in page(svc).instances:
        svc.heartbeat(lease_token=LEASE, name="notes", instance_id=i.instance_id)
    svc.sweep()
    assert page(svc).self_preservation is False


def test_few_lapses_do_not_trigger_self_preservation(make, clock):
    svc = make()
    for i in range(20):
        reg(svc, instance_id=f"i{i}")
    clock.advance(10)
    for i in range(18):
        svc.heartbeat(lease_token=LEASE, name="notes", instance_id=f"i{i}")
    clock.advance(6)
    svc.sweep()  # 2 of 20 lapse: under 3 and under 15 %
    assert svc.self_preservation is False
    clock.advance(61)
    for i in range(18):
        svc.heartbeat(lease_token=LEASE, name="notes", instance_id=f"i{i}")
    svc.sweep()
    assert len(page(svc).instances) == 18


def test_watch_returns_changes_since_index_and_long_polls(make, clock):
    svc = make()
    index = page(svc).index
    result: list = []
    waiter = threading.Thread(target=lambda: result.append(watch(svc, index=index, wait=5)))  # a loop of its own
    waiter.start()
    time.sleep(0.2)
    assert waiter.is_alive()
    reg(svc, name="search", instance_id="s1")
    waiter.join(timeout=5)
    assert result and [e.type for e in result[0].events] == ["registered"]
    assert result[0].index == index + 1
    # a name filter ignores other services
    reg(svc, name="notes", instance_id="n1")
    assert watch(svc, index=index + 1, name="search", wait=0).events == []


def test_watch_index_out_of_history_is_compacted(make, clock):
    svc = make(event_history=10)
    for i in range(30):
        reg(svc, instance_id=f"i{i}")
    with pytest.raises(RevisionCompacted):
        watch(svc, index=1, wait=0)
    with pytest.raises(RevisionCompacted):
        watch(svc, index=svc.revision + 5, wait=0)
    assert watch(svc, index=svc.revision - 3, wait=0).events
    svc.close()
    restarted = make()
    with pytest.raises(RevisionCompacted):
        watch(restarted, index=restarted.revision - 1, wait=0)
    assert watch(restarted, index=restarted.revision, wait=0).events == []


def test_deregister_removes_now(make):
    svc = make()
    reg(svc)
    gone = svc.deregister(lease_token=LEASE, name="notes", instance_id="a")
    assert gone.index == svc.revision
    with pytest.raises(InstanceNotFound):
        svc.deregister(lease_token=LEASE, name="notes", instance_id="a")
    assert [e.type for e in watch(svc, index=gone.index - 1, wait=0).events] == ["deregistered"]


def test_filters(make):
    svc = make()
    reg(svc, name="notes", instance_id="a", tags=["core"], interfaces={"rest": "http://h:1"})
    reg(svc, name="search", instance_id="b", interfaces={"mcp": "http://h:2/mcp"})
    svc.report_status(lease_token=LEASE, name="search", instance_id="b", status="down")
    assert [i.name for i in page(svc, tag="core").instances] == ["notes"]
    assert [i.name for i in page(svc, interface="mcp").instances] == ["search"]
    assert [i.name for i in page(svc, status="down").instances] == ["search"]
    assert [i.name for i in page(svc, name="notes").instances] == ["notes"]


def _op(name: str):
    return next(op for op in OPERATIONS if op.name == name)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"name": "Bad Name", "instance_id": "a"}, "name"),
        ({"name": "ok", "instance_id": "a b"}, "instance_id"),
        ({"name": "ok", "instance_id": "a", "tags": [f"t{i}" for i in range(40)]}, "tags"),
        ({"name": "ok", "instance_id": "a", "metadata": {f"k{i}": "v" for i in range(40)}}, "metadata"),
        ({"name": "ok", "instance_id": "a", "metadata": {f"k{i}": "v" * 900 for i in range(12)}}, "metadata"),
        ({"name": "ok", "instance_id": "a", "interfaces": {"grpc": "x"}}, "interfaces"),
        ({"name": "ok", "instance_id": "a", "version": "v" * 100}, "version"),
    ],
)
def test_bounds_are_refused_with_the_field_named(make, raw, field):
    from manifest.core.errors import ValidationFailed

    svc = make()
    with pytest.raises(ValidationFailed) as info:
        _op("register").call(svc, _op("register").parse(raw))
    assert field in info.value.detail
    assert page(svc).instances == [] and svc.revision == 0


def test_cli_style_text_values_are_accepted(make):
    svc = make()
    op = _op("register")
    record = op.call(
        svc,
        op.parse(
            {
                "name": "ok",
                "instance_id": "a",
                "tags": "a,b",
                "interfaces": '{"rest": "http://h:1"}',
                "metadata": '{"k": "v"}',
            }
        ),
    )
    assert record.tags == ["a", "b"] and record.interfaces.rest == "http://h:1"


def test_a_failed_write_changes_nothing(make):
    svc = make()
    reg(svc)

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    svc._repo.apply = broken  # type: ignore[method-assign]
    with pytest.raises(OSError):
        svc.update(lease_token=LEASE, name="notes", instance_id="a", version="9")
    with pytest.raises(OSError):
        reg(svc, instance_id="b")
    assert [i.version for i in page(svc).instances] == ["0.0.0"]
    assert svc.revision == 1


def test_writes_from_another_process_are_seen(make):
    first = make()
    second = make()  # same file, as a local CLI call next to a running server would be
    reg(second, instance_id="from-cli")
    assert [i.instance_id for i in page(first).instances] == ["from-cli"]
    reg(first, instance_id="from-server")
    assert len(page(second).instances) == 2


_WRITER = """
import sys
from manifest.domain.repository import SQLiteRepository
from manifest.domain.service import RegistrySettings, Service
svc = Service(SQLiteRepository(sys.argv[1]), RegistrySettings())
svc.register(name="billing", instance_id=sys.argv[2], lease_token="lease-for-domain-tests")
svc.close()
"""


@pytest.mark.parametrize("between", ["nothing", "a checkpoint that empties the WAL"])
def test_every_commit_of_another_process_reaches_the_next_lookup(make, tmp_path, between):
    # lookups skip the store while its wal-index header is unchanged (domain/commits.py):
    # each write of a separate process must still be seen by the very next lookup
    server = make()
    path = tmp_path / "registry.sqlite3"
    for i in range(3):
        subprocess.run([sys.executable, "-c", _WRITER, str(path), f"cli-{i}"], check=True, timeout=60)
        assert [x.instance_id for x in server.get(name="billing").instances] == [f"cli-{j}" for j in range(i + 1)]
        assert server.get(name="billing").instances  # a second lookup: answered without the store
        if between != "nothing":
            with closing(sqlite3.connect(path)) as other:
                other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    reg(server, name="billing", instance_id="own")  # its own write, then another's after it
    subprocess.run([sys.executable, "-c", _WRITER, str(path), "cli-last"], check=True, timeout=60)
    assert len(server.get(name="billing").instances) == 5


def test_restart_grace_starts_with_traffic_not_with_the_process(make, clock):
    svc = make()
    reg(svc)
    svc.close()
    restarted = make()
    clock.advance(10)  # a slow start: the server answers nobody for 10 s
    restarted.sweep()
    page(restarted)  # first request: the grace starts now
    clock.advance(14)
    restarted.sweep()
    assert restarted.get(name="notes").instances[0].status == "up"
    clock.advance(2)
    restarted.sweep()
    assert restarted.get(name="notes").instances[0].status == "unknown"


def test_leases_own_instances_and_the_operator_token_owns_all(make):
    from manifest.domain.errors import LeaseMismatch

    svc = make(operator_token="operator-token-0123456789")
    lease = svc.register(name="notes", instance_id="a").lease_token  # the registry makes one
    for call in (
        lambda t: svc.heartbeat(name="notes", instance_id="a", lease_token=t),
        lambda t: svc.update(name="notes", instance_id="a", version="9", lease_token=t),
        lambda t: svc.deregister(name="notes", instance_id="a", lease_token=t),
        lambda t: svc.register(name="notes", instance_id="a", version="9", lease_token=t),
    ):
        for stranger in (None, "someone-elses-lease"):
            with pytest.raises(LeaseMismatch):
                call(stranger)
    assert svc.get(name="notes").instances[0].version == "0.0.0"
    assert "lease" not in svc.get(name="notes").instances[0].model_dump_json()
    svc.heartbeat(name="notes", instance_id="a", lease_token=lease)
    svc.deregister(name="notes", instance_id="a", lease_token="operator-token-0123456789")


def test_list_pages_follow_the_cursor(make):
    svc = make()
    for i in range(25):
        reg(svc, instance_id=f"i{i:02d}")
    seen, cursor = [], None
    while True:
        got = page(svc, limit=10, cursor=cursor)
        assert len(got.instances) <= 10
        seen += [i.instance_id for i in got.instances]
        cursor = got.next_cursor
        if cursor is None:
            break
    assert seen == [f"i{i:02d}" for i in range(25)]
    # one name is one run of the sorted records: its pages stop where the name does
    reg(svc, name="alpha", instance_id="z")
    reg(svc, name="zulu", instance_id="a")
    first = page(svc, name="notes", limit=20)
    rest = page(svc, name="notes", limit=20, cursor=first.next_cursor)
    assert [i.instance_id for i in first.instances + rest.instances] == seen
    assert rest.next_cursor is None


def test_pages_take_turns_so_heartbeats_never_wait_behind_readers(make):
    svc = make()
    for i in range(5):
        reg(svc, instance_id=f"i{i}")

    async def crowd() -> list[str]:
        order: list[str] = []

        async def reader() -> None:
            await svc.list(limit=2)
            order.append("page")

        async def beat() -> None:
            await asyncio.sleep(0)  # arrives just after 20 readers
            svc.heartbeat(name="notes", instance_id="i0", lease_token=LEASE)
            order.append("beat")

        await asyncio.gather(*(reader() for _ in range(20)), beat())
        return order

    order = asyncio.run(crowd())
    assert order.count("page") == 20
    # without turns all 20 pages would be built before the heartbeat's turn came
    assert order.index("beat") <= 2


def test_a_reader_that_gives_up_while_waiting_its_turn_holds_nobody_up(make):
    svc = make()
    reg(svc)

    async def scenario() -> int:
        tasks = [asyncio.create_task(svc.list()) for _ in range(6)]
        await asyncio.sleep(0)
        for task in tasks[1:4]:
            task.cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert [isinstance(d, asyncio.CancelledError) for d in done] == [False, True, True, True, False, False]
        late = await asyncio.wait_for(svc.list(), timeout=5)  # the gate is free again
        return len(late.instances)

    assert asyncio.run(scenario()) == 1


def test_one_change_wakes_every_watch_and_quiet_watches_time_out(make, clock):
    svc = make()
    reg(svc)

    async def scenario() -> tuple[list, list]:
        index = svc.revision
        woken = [asyncio.create_task(svc.watch(index=index, wait=30)) for _ in range(50)]
        quiet = [asyncio.create_task(svc.watch(index=index, name="nobody", wait=0.2)) for _ in range(50)]
        await asyncio.sleep(0.05)
        assert svc.long_polls == 100
        await asyncio.to_thread(reg, svc, instance_id="b")
        return await asyncio.gather(*woken), await asyncio.gather(*quiet)

    woken, quiet = asyncio.run(scenario())
    assert all([e.instance_id for e in w.events] == ["b"] for w in woken)
    assert all(q.events == [] for q in quiet)
    assert svc.long_polls == 0


def test_a_stalled_store_answers_store_unavailable_and_blocks_no_heartbeat(make):
    from manifest.core.errors import StoreUnavailable

    svc = make()
    svc.store_timeout = 0.5
    reg(svc)
    release = threading.Event()
    real_apply = svc._repo.apply

    def stuck(*args: object, **kwargs: object) -> None:
        release.wait(5)
        raise StoreUnavailable("stuck")

    svc._repo.apply = stuck  # type: ignore[method-assign]
    errors: list = []
    writer = threading.Thread(target=lambda: _catch(errors, lambda: reg(svc, instance_id="b")))
    writer.start()
    time.sleep(0.1)
    # while a write waits on the store, heartbeats and lookups answer at once
    assert svc.heartbeat(name="notes", instance_id="a", lease_token=LEASE).status == "up"
    assert svc.get(name="notes").instances[0].instance_id == "a"
    with pytest.raises(StoreUnavailable):  # a second write gives up at the deadline
        reg(svc, instance_id="c")
    release.set()
    writer.join()
    assert [type(e) for e in errors] == [StoreUnavailable]
    svc._repo.apply = real_apply  # type: ignore[method-assign]
    assert [i.instance_id for i in page(svc).instances] == ["a"]


def test_long_polls_are_bounded(make):
    from manifest.domain.errors import TooManyWatches

    svc = make()
    svc.max_long_polls = 2

    async def flood() -> list:
        index = svc.revision
        tasks = [asyncio.create_task(svc.watch(index=index, wait=0.5)) for _ in range(3)]
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(flood())
    assert sum(isinstance(r, TooManyWatches) for r in results) == 1
    assert svc.long_polls == 0


def _catch(errors: list, call) -> None:
    try:
        call()
    except Exception as exc:
        errors.append(exc)


def test_lookups_follow_every_heartbeat_write_and_lapse(make, clock):
    svc = make()
    reg(svc)
    svc.get(name="notes")  # a first answer (answers are reused until something changes them)
    first = svc.get(name="notes").instances[0]
    clock.advance(2)
    svc.heartbeat(name="notes", instance_id="a", lease_token=LEASE)
    assert svc.get(name="notes").instances[0].last_heartbeat == first.last_heartbeat + 2
    svc.update(name="notes", instance_id="a", version="2.0", lease_token=LEASE)
    assert svc.get(name="notes").instances[0].version == "2.0"
    reg(svc, instance_id="b")
    assert [i.instance_id for i in svc.get(name="notes").instances] == ["a", "b"]
    clock.advance(16)
    svc.sweep()
    assert {i.status for i in svc.get(name="notes").instances} == {"unknown"}
    svc.deregister(name="notes", instance_id="a", lease_token=LEASE)
    svc.deregister(name="notes", instance_id="b", lease_token=LEASE)
    with pytest.raises(ServiceNotFound):
        svc.get(name="notes")


def test_a_sweep_lapses_exactly_the_silent_whatever_order_heartbeats_came_in(make, clock):
    svc = make()
    for i in "abcde":
        reg(svc, instance_id=i)

    def statuses() -> dict[str, str]:
        return {i.instance_id: i.status for i in svc.get(name="notes").instances}

    clock.advance(10)
    for i in "db":
        svc.heartbeat(name="notes", instance_id=i, lease_token=LEASE)
    clock.advance(6)  # a, c, e silent for 16 s (TTL 15); b, d for 6
    svc.sweep()
    assert statuses() == {"a": "unknown", "b": "up", "c": "unknown", "d": "up", "e": "unknown"}
    svc.heartbeat(name="notes", instance_id="c", lease_token=LEASE)
    clock.advance(10)  # b, d silent for 16 s; c for 10
    svc.sweep()
    assert statuses() == {"a": "unknown", "b": "unknown", "c": "up", "d": "unknown", "e": "unknown"}


def test_a_lookup_of_a_resumed_instance_follows_the_clock_not_a_kept_answer(make, clock):
    svc = make()
    reg(svc)
    clock.advance(16)
    svc.sweep()
    svc.heartbeat(name="notes", instance_id="a", lease_token=LEASE)  # back, not yet persisted
    assert svc.get(name="notes").instances[0].status == "up"
    clock.advance(16)  # silent again, and no sweep has run
    assert svc.get(name="notes").instances[0].status == "unknown"
