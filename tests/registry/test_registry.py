"""The manifest registry as operators meet it: real processes on loopback, both backends.

TTL 2 s and grace 4 s here (the defaults are 15 s and 60 s); servers heartbeat every 0.5 s,
as the registry tells them to.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .harness import (
    AS_OPERATOR,
    AUTH,
    TOKEN,
    Etcd,
    Registry,
    example_python,
    free_port,
    registry_env,
    start_server,
    wait_for,
)

TTL, GRACE = 2.0, 4.0
_prefixes = itertools.count()


@pytest.fixture(scope="session")
def python() -> Path:
    return example_python()


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Etcd]:
    cluster = Etcd(tmp_path_factory.mktemp("etcd"))
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "etcd"])
def backend(request: pytest.FixtureRequest) -> dict[str, str | None]:
    if request.param == "sqlite":
        return {"backend": "sqlite", "etcd": None}
    cluster = request.getfixturevalue("etcd")
    return {"backend": "etcd", "etcd": cluster.endpoints}


@pytest.fixture
def registry(python: Path, tmp_path: Path, backend: dict) -> Iterator[Registry]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = registry_env(
        tmp_path / "registry-data",
        port,
        backend=backend["backend"],
        etcd=backend["etcd"],
        prefix=f"/test{next(_prefixes)}-{port}",
        ttl=TTL,
        grace=GRACE,
        extra={"MANIFEST_REGISTRY_URL": url, "MANIFEST_REGISTRY_TOKEN": TOKEN},
    )
    reg = Registry(python, tmp_path, env)
    # the registry registers itself like any other server
    wait_for(lambda: "up" in reg.statuses("manifest").values(), timeout=20)
    yield reg
    reg.proc.kill9()


@pytest.fixture
def servers(python: Path, tmp_path: Path, registry: Registry) -> Iterator[list]:
    started = [start_server(python, tmp_path, registry.url, f"server{i}") for i in range(2)]
    ids = [wait_for(lambda p=port: registry.instance_at(p), timeout=90) for _, port in started]
    yield [(proc, instance_id) for (proc, _), instance_id in zip(started, ids, strict=True)]
    for proc, _ in started:
        proc.kill9()


def _both_up(registry: Registry, ids: list[str]) -> bool:
    statuses = registry.statuses("manifest")
    return all(statuses.get(i) == "up" for i in ids)


def test_servers_register_go_unknown_when_killed_and_are_removed_after_grace(registry: Registry, servers: list) -> None:
    ids = [instance for _, instance in servers]
    wait_for(lambda: _both_up(registry, ids), timeout=30)
    # the registry registered itself like any other server
    own = f"{registry.url}"
    records = registry.list(name="manifest")["instances"]
    assert any(r["interfaces"].get("rest") == own for r in records)
    victim, victim_id = servers[0]
    killed = time.monotonic()
    victim.kill9()
    wait_for(lambda: registry.statuses("manifest").get(victim_id) == "unknown", timeout=TTL + 3)
    assert time.monotonic() - killed <= TTL + 1.0 + 0.3  # TTL + 1 s (+ poll granularity)
    assert registry.statuses("manifest")[servers[1][1]] == "up"
    wait_for(lambda: victim_id not in registry.statuses("manifest"), timeout=GRACE + 3)
    assert time.monotonic() - killed >= GRACE  # not before the grace ran out
    assert registry.statuses("manifest")[servers[1][1]] == "up"


def test_registry_kill9_and_restart_loses_nothing_and_expires_nothing(registry: Registry, servers: list) -> None:
    ids = [instance for _, instance in servers]
    wait_for(lambda: _both_up(registry, ids), timeout=30)
    # a few more records that nobody heartbeats for, registered directly
    for i in range(3):
        r = httpx.post(
            registry.url + "/v1/instances",
            headers=AUTH,
            json={
                "name": "static",
                "instance_id": f"s{i}",
                "version": "1.0.0",
                "interfaces": {"rest": f"http://127.0.0.1:{9000 + i}"},
                "metadata": {"n": str(i)},
            },
        )
        assert r.status_code == 200, r.text
    before = {(i["name"], i["instance_id"]): i for i in registry.list()["instances"]}
    registry.proc.kill9()
    time.sleep(TTL + 1)  # longer than a TTL: a naive registry would now expire everyone
    registry.restart()
    after = {(i["name"], i["instance_id"]): i for i in registry.list()["instances"]}
    assert before.keys() <= after.keys()  # nothing lost
    # the restarted registry is a new process: it registers itself under a new instance id
    new = after.keys() - before.keys()
    assert all(after[k]["interfaces"]["rest"] == registry.url for k in new), new
    for key, record in ((k, after[k]) for k in before):
        assert record["status"] != "unknown", (key, before[key], record)  # nothing mass-expired: one TTL of grace
        for field in ("version", "interfaces", "tags", "metadata", "registered_at"):
            assert record[field] == before[key][field]
    # servers keep heartbeating and stay up past the grace TTL; the silent ones lapse
    time.sleep(TTL + 1)
    statuses = registry.statuses()
    assert all(statuses[i] == "up" for i in ids), statuses
    assert registry.statuses("static") == {"s0": "unknown", "s1": "unknown", "s2": "unknown"}


def test_servers_register_again_when_the_registry_comes_back_empty(
    python: Path, tmp_path: Path, registry: Registry, servers: list, backend: dict
) -> None:
    ids = [instance for _, instance in servers]
    wait_for(lambda: _both_up(registry, ids), timeout=30)
    registry.proc.kill9()
    time.sleep(1.5)  # servers see the registry down and back off
    # the registry returns with an empty store (say, a new disk)
    registry.env["MANIFEST_DATA_DIR"] = str(tmp_path / "fresh-data")
    registry.env["MANIFEST_ETCD_PREFIX"] = registry.env["MANIFEST_ETCD_PREFIX"] + "-fresh"
    registry.restart()
    assert all(proc.alive for proc, _ in servers)  # the outage crashed nobody
    wait_for(lambda: _both_up(registry, ids), timeout=20)


def test_clean_shutdown_deregisters(registry: Registry, servers: list) -> None:
    ids = [instance for _, instance in servers]
    wait_for(lambda: _both_up(registry, ids), timeout=30)
    proc, instance_id = servers[0]
    proc.terminate()
    assert instance_id not in registry.statuses("manifest")
    events = httpx.get(registry.url + "/v1/watch", params={"index": registry.list()["index"] - 1, "wait": 0}).json()[
        "events"
    ]
    assert [(e["type"], e["instance_id"]) for e in events] == [("deregistered", instance_id)]


def test_bad_input_on_every_operation_is_refused_and_changes_nothing(registry: Registry) -> None:
    base = registry.url + "/v1"
    ok = httpx.post(base + "/instances", headers=AUTH, json={"name": "svc", "instance_id": "a", "version": "1"})
    assert ok.status_code == 200
    before = registry.list()
    bad = [
        ("POST", "/instances", {"name": "Bad Name", "instance_id": "a"}),
        (
            "POST",
            "/instances",
            {"name": "svc", "instance_id": "b", "metadata": {f"k{i}": "x" * 1000 for i in range(20)}},
        ),
        ("POST", "/instances", {"name": "svc", "instance_id": "b", "tags": ["x"] * 1 + [""]}),
        ("POST", "/instances", {"name": "svc", "instance_id": "b", "interfaces": {"ftp": "x"}}),
        ("POST", "/instances", {"name": "svc"}),
        ("PATCH", "/instances/svc/a", {"version": ""}),
        ("PATCH", "/instances/svc/a", {"dependencies": ["Not Valid"]}),
        ("PUT", "/instances/svc/a/status", {"status": "unknown"}),
        ("PUT", "/instances/svc/a/status", {"status": "down", "reason": "r" * 300}),
        ("PUT", "/instances/svc/a/heartbeat", {"extra": 1}),
        ("GET", "/instances?status=sleeping", None),
        ("GET", "/instances?interface=grpc", None),
        ("GET", "/watch?index=-1", None),
        ("GET", "/watch?wait=1000", None),
        ("GET", "/services/Bad%20Name", None),
        ("DELETE", "/instances/svc/a%20b", None),
    ]
    for method, path, body in bad:
        r = httpx.request(method, base + path, headers=AUTH, json=body)
        assert r.status_code == 422, (method, path, r.status_code, r.text)
        problem = r.json()
        assert problem["code"] == "validation_error" and problem["detail"], problem
        assert r.headers["content-type"] == "application/problem+json"
    # not found / gone, each with its own code
    assert (
        httpx.put(base + "/instances/svc/zz/heartbeat", headers=AUTH, json=AS_OPERATOR).json()["code"]
        == "instance_not_found"
    )
    assert httpx.get(base + "/services/nobody").json()["code"] == "service_not_found"
    gone = httpx.get(base + "/watch", params={"index": 10**6, "wait": 0})
    assert gone.status_code == 410 and gone.json()["code"] == "revision_compacted"
    after = registry.list()
    # only the sweeper may have written meanwhile (the unheartbeated record lapsing, on a slow
    # machine even removed): no bad call registered or changed anything
    since = httpx.get(base + "/watch", params={"index": before["index"], "wait": 0}).json()["events"]
    assert {e["type"] for e in since} <= {"status", "removed"}, since
    removed = {e["instance_id"] for e in since if e["type"] == "removed"}
    kept = [i["instance_id"] for i in before["instances"] if i["instance_id"] not in removed]
    assert [i["instance_id"] for i in after["instances"]] == kept


def test_mutations_need_the_token_and_lookups_are_open(registry: Registry) -> None:
    base = registry.url + "/v1"
    record = {"name": "svc", "instance_id": "a", "version": "1"}
    assert httpx.post(base + "/instances", json=record).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.post(base + "/instances", json=record, headers=wrong).status_code == 401
    assert httpx.post(base + "/instances", json=record, headers=AUTH).status_code == 200
    assert httpx.delete(base + "/instances/svc/a").status_code == 401
    assert httpx.get(base + "/services/svc").status_code == 200
    assert httpx.get(base + "/instances").status_code == 200


def test_watch_long_poll_wakes_on_a_change(registry: Registry) -> None:
    import threading

    index = registry.list()["index"]
    got: list = []

    def poll() -> None:
        got.append(
            httpx.get(
                registry.url + "/v1/watch", params={"index": index, "wait": 10, "name": "late"}, timeout=15
            ).json()
        )

    thread = threading.Thread(target=poll)
    started = time.monotonic()
    thread.start()
    time.sleep(0.5)
    httpx.post(registry.url + "/v1/instances", headers=AUTH, json={"name": "late", "instance_id": "x", "version": "1"})
    thread.join(timeout=12)
    assert time.monotonic() - started < 5
    assert [e["type"] for e in got[0]["events"] if e["name"] == "late"] == ["registered"]


def test_metrics_report_statuses_heartbeats_and_self_preservation(registry: Registry, servers: list) -> None:
    ids = [instance for _, instance in servers]
    wait_for(lambda: _both_up(registry, ids), timeout=30)
    time.sleep(1.5)
    text = httpx.get(registry.url + "/metrics").text
    assert 'manifest_instances{status="up"} 3.0' in text  # itself and the two servers
    assert "manifest_self_preservation 0.0" in text
    rate = next(
        float(line.split()[-1]) for line in text.splitlines() if line.startswith("manifest_heartbeats_per_second")
    )
    assert rate > 1.0  # three instances heartbeating every 0.5 s


def test_self_preservation_over_http(python: Path, tmp_path: Path) -> None:
    port = free_port()
    env = registry_env(
        tmp_path / "data",
        port,
        ttl=TTL,
        grace=1.0,
        extra={"MANIFEST_REMOVALS_PER_MINUTE": "6", "MANIFEST_SWEEP_SECONDS": "1.0"},
    )
    reg = Registry(python, tmp_path, env)
    try:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(10) as pool:  # a fleet that goes silent all at once
            list(
                pool.map(
                    lambda i: httpx.post(
                        reg.url + "/v1/instances",
                        headers=AUTH,
                        json={"name": "fleet", "instance_id": f"i{i}", "version": "1"},
                    ),
                    range(10),
                )
            )
        wait_for(lambda: reg.list()["self_preservation"], timeout=TTL + 3)
        # Registrations made one after another lapse one sweep apart on a loaded machine: the mode
        # may start before the last ones lapse. Every one ends up unknown, none removed yet.
        wait_for(lambda: set(reg.statuses("fleet").values()) == {"unknown"}, timeout=3)
        time.sleep(3)  # well past the 1 s grace: removals trickle out (1 per 10 s)
        assert len(reg.statuses("fleet")) >= 9
        assert "manifest_self_preservation 1.0" in httpx.get(reg.url + "/metrics").text
        for i in range(10):  # heartbeats come back: the mode ends by itself
            httpx.put(reg.url + f"/v1/instances/fleet/i{i}/heartbeat", headers=AUTH, json=AS_OPERATOR)
        wait_for(lambda: not reg.list()["self_preservation"], timeout=3)
    finally:
        reg.proc.kill9()


def test_etcd_cluster_loses_its_leader_and_the_registry_keeps_answering(python: Path, tmp_path: Path) -> None:
    cluster = Etcd(tmp_path / "cluster", members=3)
    port = free_port()
    env = registry_env(tmp_path / "data", port, backend="etcd", etcd=cluster.endpoints, ttl=5.0, grace=30.0)
    reg = Registry(python, tmp_path, env)
    try:
        for i in range(20):
            r = httpx.post(
                reg.url + "/v1/instances", headers=AUTH, json={"name": "svc", "instance_id": f"i{i}", "version": "1"}
            )
            assert r.status_code == 200
        leader = cluster.leader()
        cluster.procs[leader].kill9()
        # reads answer at once; writes go on after the election, with nothing lost
        assert len(reg.list(name="svc")["instances"]) == 20
        for i in range(20, 30):
            r = httpx.post(
                reg.url + "/v1/instances",
                headers=AUTH,
                timeout=20,
                json={"name": "svc", "instance_id": f"i{i}", "version": "1"},
            )
            assert r.status_code == 200, r.text
        for i in range(30):
            r = httpx.put(reg.url + f"/v1/instances/svc/i{i}/heartbeat", headers=AUTH, json=AS_OPERATOR)
            assert r.status_code == 200
        assert cluster.leader() != leader
        # a registry restart reads everything back from the surviving members
        reg.proc.kill9()
        reg.restart()
        assert len(reg.list(name="svc")["instances"]) == 30
    finally:
        reg.proc.kill9()
        cluster.stop()
