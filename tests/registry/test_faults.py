"""Faults, load and hostile clients against the registry: real processes on loopback.

Each finding is a row: a request table for refusals, a fault table for stalled stores. The
next finding is one more row, not a new harness. One registry serves every cheap row; the
stalled-store rows each get a registry of their own (they break its store on purpose).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from .harness import (
    AS_OPERATOR,
    AUTH,
    Etcd,
    Registry,
    example_python,
    free_port,
    registry_env,
    start_server,
    wait_for,
)

MAX_LONG_POLLS = 20


@pytest.fixture(scope="module")
def python() -> Path:
    return example_python()


@pytest.fixture(scope="module")
def shared(python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    work = tmp_path_factory.mktemp("faults-shared")
    port = free_port()
    env = registry_env(work / "data", port, ttl=5.0, grace=30.0, extra={"MANIFEST_MAX_LONG_POLLS": str(MAX_LONG_POLLS)})
    reg = Registry(python, work, env, name="shared")
    yield reg
    reg.proc.kill9()


def _register(reg: Registry, name: str, instance_id: str, **fields: Any) -> httpx.Response:
    body = {"name": name, "instance_id": instance_id, "version": "1.0.0", **fields}
    return httpx.post(reg.url + "/v1/instances", headers=AUTH, json=body, timeout=10)


# -- refusals: (label, method, path, body); each must answer 422 and store nothing ----------

_SAFE = {"name": "safe", "instance_id": "a", "version": "1.0.0"}
REFUSED: list[tuple[str, str, str, dict[str, Any]]] = [
    ("javascript: REST endpoint", "POST", "/instances", _SAFE | {"interfaces": {"rest": "javascript:alert(1)"}}),
    ("metadata address", "POST", "/instances", _SAFE | {"interfaces": {"rest": "http://169.254.169.254/latest"}}),
    ("link-local IPv6", "POST", "/instances", _SAFE | {"interfaces": {"mcp": "http://[fe80::1]:80/mcp"}}),
    ("metadata host name", "POST", "/instances", _SAFE | {"interfaces": {"rest": "http://metadata.google.internal"}}),
    ("credentials in URL", "POST", "/instances", _SAFE | {"interfaces": {"rest": "http://u:p@127.0.0.1:80"}}),
    ("file: MCP endpoint", "POST", "/instances", _SAFE | {"interfaces": {"mcp": "file:///etc/passwd"}}),
    ("CLI endpoint with a shell", "POST", "/instances", _SAFE | {"interfaces": {"cli": "rm -rf /"}}),
    ("Python endpoint not a module", "POST", "/instances", _SAFE | {"interfaces": {"python": "os; print(1)"}}),
    ("NUL in version", "POST", "/instances", _SAFE | {"version": "1.0\x00"}),
    ("bidi override in tag", "POST", "/instances", _SAFE | {"tags": ["ok\u202egnp.exe"]}),
    ("zero-width in tag", "POST", "/instances", _SAFE | {"tags": ["prod\u200b"]}),
    ("control in metadata key", "POST", "/instances", _SAFE | {"metadata": {"own\x1b[31mer": "x"}}),
    ("bidi in metadata value", "POST", "/instances", _SAFE | {"metadata": {"owner": "a\u2067b"}}),
    ("page over the maximum", "GET", "/instances?limit=100000", {}),
    ("forged cursor", "GET", "/instances?cursor=bm90LWEtY3Vyc29y", {}),
    ("watch index over the range", "GET", "/watch?index=99999999999999999999", {}),
]


@pytest.mark.parametrize(("label", "method", "path", "body"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_input_is_422_and_stores_nothing(
    shared: Registry, label: str, method: str, path: str, body: dict[str, Any]
) -> None:
    r = httpx.request(method, shared.url + "/v1" + path, headers=AUTH, json=body or None, timeout=10)
    assert r.status_code == 422, (label, r.text)
    assert r.json()["code"] == "validation_error"
    assert "safe" not in shared.statuses()


# -- ownership: a second registrant cannot touch another's instance -------------------------


@dataclass
class Intrusion:
    label: str
    call: Callable[[Registry, str], httpx.Response]


def _hb(reg: Registry, lease: str) -> httpx.Response:
    return httpx.put(reg.url + "/v1/instances/owned/a/heartbeat", headers=AUTH, json={"lease_token": lease})


INTRUSIONS = [
    Intrusion("heartbeat", _hb),
    Intrusion(
        "deregister",
        lambda reg, lease: httpx.delete(reg.url + "/v1/instances/owned/a", headers=AUTH, params={"lease_token": lease}),
    ),
    Intrusion(
        "status",
        lambda reg, lease: httpx.put(
            reg.url + "/v1/instances/owned/a/status", headers=AUTH, json={"status": "down", "lease_token": lease}
        ),
    ),
    Intrusion(
        "update",
        lambda reg, lease: httpx.patch(
            reg.url + "/v1/instances/owned/a", headers=AUTH, json={"version": "6.6.6", "lease_token": lease}
        ),
    ),
    Intrusion("re-register", lambda reg, lease: _register(reg, "owned", "a", version="6.6.6", lease_token=lease)),
]


@pytest.mark.parametrize("intrusion", INTRUSIONS, ids=[i.label for i in INTRUSIONS])
def test_a_second_registrant_cannot_touch_another_instance(shared: Registry, intrusion: Intrusion) -> None:
    first = _register(shared, "owned", "a")
    if first.status_code == 403:  # registered by an earlier row: the operator resets it
        httpx.delete(shared.url + "/v1/instances/owned/a", headers=AUTH, params=AS_OPERATOR)
        first = _register(shared, "owned", "a")
    assert first.status_code == 200, first.text
    lease = first.json()["lease_token"]
    for stranger in ("someone-elses-lease-0001", None):
        r = intrusion.call(shared, stranger) if stranger else _no_lease(shared, intrusion)
        assert r.status_code == 403, (intrusion.label, r.text)
        assert r.json()["code"] == "lease_mismatch"
    record = shared.list(name="owned")["instances"][0]
    assert (record["version"], record["status"]) == ("1.0.0", "up")
    assert _hb(shared, lease).status_code == 200  # the owner still can
    # the operator token can do everything
    assert httpx.delete(shared.url + "/v1/instances/owned/a", headers=AUTH, params=AS_OPERATOR).status_code == 200


def _no_lease(reg: Registry, intrusion: Intrusion) -> httpx.Response:
    if intrusion.label == "re-register":
        return _register(reg, "owned", "a", version="6.6.6")
    if intrusion.label == "deregister":
        return httpx.delete(reg.url + "/v1/instances/owned/a", headers=AUTH)
    if intrusion.label == "heartbeat":
        return httpx.put(reg.url + "/v1/instances/owned/a/heartbeat", headers=AUTH, json={})
    if intrusion.label == "status":
        return httpx.put(reg.url + "/v1/instances/owned/a/status", headers=AUTH, json={"status": "down"})
    return httpx.patch(reg.url + "/v1/instances/owned/a", headers=AUTH, json={"version": "6.6.6"})


# -- floods: the server keeps answering /health and heartbeats --------------------------------


def test_long_poll_flood_is_bounded_and_health_answers(shared: Registry) -> None:
    index = shared.list()["index"]
    extra = 10
    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=MAX_LONG_POLLS + extra + 5)) as client:
        url = shared.url + "/v1/watch"
        with ThreadPoolExecutor(MAX_LONG_POLLS + extra) as pool:
            polls = [
                pool.submit(client.get, url, params={"index": index, "wait": 8, "name": "nobody"})
                for _ in range(MAX_LONG_POLLS + extra)
            ]
            wait_for(lambda: sum(1 for p in polls if p.done()) >= extra, timeout=20)
            assert httpx.get(shared.url + "/health", timeout=5).status_code == 200
            done = [p.result() for p in polls if p.done()]
            refused = [r for r in done if r.status_code == 503]
            assert len(refused) >= extra
            assert all(r.json()["code"] == "too_many_watches" and r.json()["retryable"] for r in refused)
            # a change wakes nobody waiting on another name; the waiting ones end at their deadline
            assert all(r.status_code in (200, 503) for r in (p.result() for p in polls))


def test_list_pages_under_readers_while_heartbeats_are_acknowledged(shared: Registry) -> None:
    leases = {}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: _register(shared, "paged", f"p{i:04d}"), range(250)))
    for i, r in enumerate(answers):
        assert r.status_code == 200
        leases[f"p{i:04d}"] = r.json()["lease_token"]
    stop = threading.Event()

    def reader() -> int:
        pages = 0
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                cursor = None
                while True:
                    params = {"name": "paged", "limit": 50} | ({"cursor": cursor} if cursor else {})
                    page = client.get(shared.url + "/v1/instances", params=params).json()
                    assert len(page["instances"]) <= 50
                    pages += 1
                    cursor = page["next_cursor"]
                    if not cursor:
                        break
        return pages

    with ThreadPoolExecutor(8) as pool:
        readers = [pool.submit(reader) for _ in range(6)]
        acked = 0
        with httpx.Client(timeout=10) as client:
            for instance_id, lease in list(leases.items())[:100]:
                r = client.put(
                    f"{shared.url}/v1/instances/paged/{instance_id}/heartbeat",
                    headers=AUTH,
                    json={"lease_token": lease},
                )
                acked += r.status_code == 200
        stop.set()
        assert sum(r.result() for r in readers) > 0
    assert acked == 100
    ids = [i["instance_id"] for i in shared.list(name="paged")["instances"]]
    assert ids == sorted(leases)  # every page joined: each instance once, in order


# -- registration truth ------------------------------------------------------------------------


def test_serve_port_flag_registers_that_port_with_its_own_instance(
    python: Path, shared: Registry, tmp_path: Path
) -> None:
    procs = [start_server(python, tmp_path, shared.url, f"flag{i}", port_flag=True) for i in range(2)]
    try:
        ids = [wait_for(lambda p=port: shared.instance_at(p), timeout=90) for _, port in procs]
        assert len(set(ids)) == 2  # two servers on one host, two records
        first, _ = procs[0]
        first.terminate()  # a clean stop removes its own record only
        assert ids[0] not in shared.statuses("manifest")
        assert shared.statuses("manifest")[ids[1]] == "up"
    finally:
        for proc, _ in procs:
            proc.kill9()


# -- stalled stores: writes answer 503 in time; heartbeats, lookups and /health go on --------


@dataclass
class Stall:
    label: str
    backend: str
    start: Callable[[Path, Path], Callable[[], None]]  # (workdir, data dir) -> undo


def _lock_sqlite(workdir: Path, data: Path) -> Callable[[], None]:
    """Another process takes the store's write lock and holds it (up to ~10 s)."""
    release = workdir / "release-lock"
    release.touch()
    script = (
        "import sqlite3, sys, time, os\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('BEGIN IMMEDIATE'); print('locked', flush=True)\n"
        "stop = time.monotonic() + 10\n"
        "while os.path.exists(sys.argv[2]) and time.monotonic() < stop: time.sleep(0.05)\n"
        "db.execute('ROLLBACK')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(data / "manifest.sqlite3"), str(release)], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"locked"

    def undo() -> None:
        release.unlink(missing_ok=True)
        proc.wait(timeout=15)

    return undo


_CLUSTER: dict[str, Etcd] = {}


def _etcd_quorum_loss(workdir: Path, data: Path) -> Callable[[], None]:
    """Two of three members die: the cluster has no quorum until they come back."""
    cluster = _CLUSTER["etcd"]
    victims = [n for n in cluster.names if n != cluster.names[0]]
    for name in victims:
        cluster.procs[name].kill9()

    def undo() -> None:
        for name in victims:
            cluster.procs[name].start()
        wait_for(lambda: cluster.healthy(cluster.names[0]), timeout=30)

    return undo


STALLS = [Stall("sqlite-locked", "sqlite", _lock_sqlite), Stall("etcd-quorum-lost", "etcd", _etcd_quorum_loss)]
FLEET = 20


@pytest.mark.parametrize("stall", STALLS, ids=[s.label for s in STALLS])
def test_a_stalled_store_answers_503_and_blocks_nothing_else(
    python: Path, tmp_path: Path, stall: Stall, request: pytest.FixtureRequest
) -> None:
    port = free_port()
    etcd = None
    if stall.backend == "etcd":
        etcd = Etcd(tmp_path / "etcd", members=3)
        _CLUSTER["etcd"] = etcd
        request.addfinalizer(etcd.stop)
    env = registry_env(
        tmp_path / "data",
        port,
        backend=stall.backend,
        etcd=etcd.endpoints if etcd else None,
        prefix=f"/stall-{port}",
        ttl=2.0,
        grace=20.0,
        extra={"MANIFEST_STORE_TIMEOUT_SECONDS": "2", "MANIFEST_SELF_PRESERVATION": "false"},
    )
    reg = Registry(python, tmp_path, env, name=f"registry-{stall.label}")
    request.addfinalizer(reg.proc.kill9)
    leases = {f"f{i}": _register(reg, "fleet", f"f{i}").json()["lease_token"] for i in range(FLEET)}
    stop = threading.Event()
    failures: list[str] = []

    def heartbeats() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                for instance_id, lease in leases.items():
                    r = client.put(
                        f"{reg.url}/v1/instances/fleet/{instance_id}/heartbeat",
                        headers=AUTH,
                        json={"lease_token": lease},
                    )
                    if r.status_code != 200:
                        failures.append(f"{instance_id}: {r.status_code}")
                stop.wait(0.3)

    beater = threading.Thread(target=heartbeats, daemon=True)
    beater.start()
    undo = stall.start(tmp_path, tmp_path / "data")
    try:
        with ThreadPoolExecutor(2) as pool:
            write = pool.submit(_register, reg, "late", "x")
            # while the write waits on the store, /health and lookups answer
            assert httpx.get(reg.url + "/health", timeout=5).status_code == 200
            assert httpx.get(reg.url + "/v1/services/fleet", timeout=5).status_code == 200
            stalled = write.result(timeout=30)
        assert stalled.status_code == 503, stalled.text
        assert stalled.json()["code"] == "store_unavailable" and stalled.json()["retryable"] is True
        # the deadline passed a few sweeps ago; the heartbeating fleet stays up meanwhile
        wait_for(lambda: httpx.get(reg.url + "/health", timeout=5).status_code == 200, timeout=5)
        statuses = reg.statuses("fleet")
        assert set(statuses.values()) == {"up"}, statuses
        assert "late" not in reg.statuses()  # the refused write changed nothing
    finally:
        undo()
        stop.set()
        beater.join(timeout=10)
    assert not failures, failures[:5]
    # the store is back (an etcd cluster may take a moment to elect a leader again): writes go through
    wait_for(lambda: _register(reg, "late", "x").status_code == 200, timeout=30)
    assert set(reg.statuses("fleet").values()) == {"up"}
