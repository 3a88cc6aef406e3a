"""The registry on a three-member etcd cluster the orchestrator brings up in Phase 2: it comes
up, survives the loss of a member (its leader, killed with SIGKILL), and reset leaves nothing."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bootstrap.harness import REGISTRY, World, alive, build_world, listening, wait_for

MEMBERS = ("etcd-0", "etcd-1", "etcd-2")


def _stack(world: World) -> str:
    return (
        "name: replicated\n"
        "registry:\n"
        f"  source: {REGISTRY}\n"
        "  backend: etcd\n"
        "  etcd:\n"
        "    members: 3\n"
        "  settings:\n"
        "    heartbeat_seconds: 1\n"
        "    ttl_seconds: 3\n"
        "servers:\n"
        f"  alpha:\n    source: {world.sources['alpha']}\n"
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    world = build_world(tmp_path_factory.mktemp("etcd"), ("alpha",))
    world.write_stack("stack.yaml", _stack(world))
    yield world
    world.run("reset", "--stack-file", "stack.yaml")


def _status(world: World, *extra: str) -> dict[str, Any]:
    code, data = world.run("status", "--stack-file", "stack.yaml", *extra)
    assert code == 0, data
    return data


def _leader(urls: list[str]) -> int:
    for i, url in enumerate(urls):
        with httpx.Client(timeout=2) as client:
            try:
                data = client.post(f"{url}/v3/maintenance/status", json={}).json()
            except httpx.HTTPError:
                continue
        if data.get("leader") == data.get("header", {}).get("member_id"):
            return i
    raise AssertionError("no etcd leader")


def test_three_members_come_up_before_the_registry_and_survive_losing_one(world: World) -> None:
    code, report = world.run("apply", "--stack-file", "stack.yaml")
    assert code == 0, report
    starts = [s["server"] for s in report["steps"] if s["action"] == "start"]
    assert starts[:4] == [*MEMBERS, "registry"], starts
    data = _status(world)
    rows = {r["server"]: r for r in data["servers"]}
    assert all(
        (rows[m]["phase"], rows[m]["process"], rows[m]["health"]) == ("registry", "running", "ready") for m in MEMBERS
    )
    assert (rows["alpha"]["health"], rows["alpha"]["registry"]) == ("ready", "up"), rows["alpha"]
    registry, token = data["registry_url"], world.run("tokens", "--stack-file", "stack.yaml")[1]["registry_token"]
    # the registry keeps its records in etcd: they are there under its prefix
    urls = [rows[m]["url"] for m in MEMBERS]
    keys = httpx.post(f"{urls[0]}/v3/kv/range", json={"key": "L21hbmlmZXN0", "range_end": "L21hbmlmZXN1"}).json()
    assert int(keys.get("count", 0)) >= 1, keys

    victim = MEMBERS[_leader(urls)]
    os.kill(rows[victim]["pid"], signal.SIGKILL)
    killed = time.time()
    wait_for(lambda: not alive(rows[victim]["pid"]), 10)

    # a write after the loss: a fresh registration goes through etcd with two members of three
    auth = {"Authorization": f"Bearer {token}"}
    record = {"name": "probe", "instance_id": "probe-1", "interfaces": {"rest": "http://127.0.0.1:9"}}

    def registered() -> Any:
        response = httpx.post(f"{registry}/v1/instances", json=record, headers=auth, timeout=5)
        return response.json() if response.status_code == 200 else None

    lease = wait_for(registered, 30, every=0.2)["lease_token"]
    beat = httpx.put(
        f"{registry}/v1/instances/probe/probe-1/heartbeat", json={"lease_token": lease}, headers=auth, timeout=5
    )
    assert beat.status_code == 200, beat.text

    # alpha keeps heartbeating through the loss and stays up, well past the registry's TTL
    def heartbeat_after_kill() -> bool:
        found = httpx.get(f"{registry}/v1/services/alpha", timeout=5).json()["instances"]
        return bool(found) and found[0]["status"] == "up" and found[0]["last_heartbeat"] > killed + 3

    wait_for(heartbeat_after_kill, 30, every=0.2)
    assert httpx.get(f"{registry}/ready", timeout=5).status_code == 200


def test_kubernetes_export_runs_the_members_as_a_statefulset(world: World) -> None:
    """The members become a StatefulSet behind a headless Service: stable names wired into one
    static --initial-cluster, etcd's own health as probes, the registry pointed at every member
    and waiting for each; every document validates strictly, offline."""
    import kubernetes_validate
    import yaml

    code, report = world.run("export", "--stack-file", "stack.yaml", "--format", "kubernetes")
    assert code == 0, report
    docs = list(yaml.safe_load_all((world.data_dir / report["folder"] / report["files"][0]).read_text()))
    version = kubernetes_validate.latest_version()
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert not any(name.startswith("replicated-etcd-") for _, name in by_kind), "no Deployment per member"
    service = by_kind[("Service", "replicated-etcd")]["spec"]
    assert service["clusterIP"] == "None" and service["publishNotReadyAddresses"] is True
    sts = by_kind[("StatefulSet", "replicated-etcd")]["spec"]
    assert (sts["serviceName"], sts["replicas"], sts["podManagementPolicy"]) == ("replicated-etcd", 3, "Parallel")
    container = sts["template"]["spec"]["containers"][0]
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in container["command"][1:])
    peers = [f"replicated-etcd-{i}=http://replicated-etcd-{i}.replicated-etcd:2380" for i in range(3)]
    assert flags["initial-cluster"] == ",".join(peers)
    assert flags["name"] == "$(POD_NAME)" and flags["initial-cluster-state"] == "new"
    assert flags["initial-advertise-peer-urls"] == "http://$(POD_NAME).replicated-etcd:2380"
    assert container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": 2379}
    assert container["livenessProbe"]["httpGet"]["path"] == "/health?serializable=true"
    assert sts["volumeClaimTemplates"][0]["metadata"]["name"] == "data"

    registry = by_kind[("Deployment", "replicated-registry")]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in registry["containers"][0]["env"]}
    clients = [f"http://replicated-etcd-{i}.replicated-etcd:2379" for i in range(3)]
    assert env["MANIFEST_BACKEND"] == "etcd" and env["MANIFEST_ETCD_ENDPOINTS"] == ",".join(clients)
    assert registry["initContainers"][0]["command"][3:] == [f"{url}/health" for url in clients]
    alpha = by_kind[("Deployment", "replicated-alpha")]["spec"]["template"]["spec"]
    assert alpha["initContainers"][0]["command"][3:] == ["http://replicated-registry:8000/ready"]


def test_reset_removes_the_cluster(world: World) -> None:
    rows = {r["server"]: r for r in _status(world)["servers"]}
    ports = [int(r["url"].rsplit(":", 1)[1]) for r in rows.values() if r["url"]]
    code, report = world.run("reset", "--stack-file", "stack.yaml")
    assert code == 0, report
    assert not any(alive(r["pid"]) for r in rows.values() if r["pid"])
    assert not any(listening(p) for p in ports)
    assert not (Path(world.data_dir) / "stacks").exists()
