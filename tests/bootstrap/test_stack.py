"""A stack of the registry and three rendered servers, brought up, kept, broken and removed by
the orchestrator as real processes on loopback. The tests run in order on one shared world
(rendering and installing is the slow part); each leaves the stack as the next expects."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bootstrap.harness import SERVERS, World, alive, build_world, listening, stack_text, wait_for

ALL = ("registry", *SERVERS)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    world = build_world(tmp_path_factory.mktemp("bootstrap"))
    world.write_stack("stack.yaml", stack_text(world))
    yield world
    # whatever happened, leave no process behind
    world.run("reset", "--stack-file", "stack.yaml")


def _status(world: World, stack: str = "stack.yaml") -> dict[str, dict[str, Any]]:
    code, data = world.run("status", "--stack-file", stack)
    assert code == 0, data
    return {row["server"]: row for row in data["servers"]}


def _pids(world: World) -> dict[str, int]:
    return {name: row["pid"] for name, row in _status(world).items()}


BAD = [
    ("unknown key", "name: demo\nservers:\n  a:\n    source: ./nowhere\n    prot: 1\n", 5, "unknown key"),
    ("missing source", "name: demo\nservers:\n  a:\n    source: ./nowhere\n", 4, "no project at ./nowhere"),
    (
        "cycle",
        "name: demo\nservers:\n  alpha:\n    source: {alpha}\n    depends_on: [beta]\n  beta:\n    source: {beta}\n",
        3,
        "dependency cycle: alpha -> beta -> alpha",
    ),
    (
        "port clash",
        "name: demo\nregistry:\n  source: {registry}\n  port: 9\n"
        "servers:\n  alpha:\n    source: {alpha}\n    port: 9\n",
        8,
        "port 9 is also registry's",
    ),
]


@pytest.mark.parametrize(("case", "text", "line", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_stack_files_are_refused_with_line_and_reason(
    world: World, case: str, text: str, line: int, reason: str
) -> None:
    from tests.bootstrap.harness import REGISTRY

    path = world.write_stack(f"bad-{case.replace(' ', '-')}.yaml", text.format(registry=REGISTRY, **world.sources))
    for command in ("plan", "apply"):
        code, problem = world.run(command, "--stack-file", path.name)
        assert code == 10 and problem["code"] == "stack_invalid", problem
        assert f"line {line}" in problem["detail"] and reason in problem["detail"], problem["detail"]
    assert not (world.data_dir / "stacks").exists(), "an invalid stack must start and record nothing"


def test_cold_apply_brings_every_server_up_in_dependency_order(world: World) -> None:
    code, plan = world.run("plan", "--stack-file", "stack.yaml")
    assert code == 0 and not plan["converged"]
    code, report = world.run("apply", "--stack-file", "stack.yaml")
    assert code == 0, report
    starts = [s["server"] for s in report["steps"] if s["action"] == "start"]
    assert starts[0] == "registry" and starts.index("alpha") < starts.index("beta")
    rows = _status(world)
    assert set(rows) == set(ALL)
    for name, row in rows.items():
        assert (row["process"], row["health"], row["registry"]) == ("running", "ready", "up"), (name, row)
    # tokens come only from their own command (over REST and MCP it needs the API token)
    assert all("token" not in row for row in rows.values())
    code, secret = world.run("tokens", "--stack-file", "stack.yaml")
    assert code == 0 and secret["registry_token"] and set(secret["servers"]) == set(SERVERS), secret
    # the registry knows each server under its own address
    registry = world.run("status", "--stack-file", "stack.yaml")[1]["registry_url"]
    for name in SERVERS:
        instances = httpx.get(f"{registry}/v1/services/{name}").json()["instances"]
        assert [i["interfaces"]["rest"] for i in instances] == [rows[name]["url"]]


def test_exported_systemd_units_verify(world: World) -> None:
    """The applied stack as systemd units: ordering, gates and environment; systemd-analyze
    verify accepts them (it checks keys, sections and that every command exists)."""
    import shutil

    code, report = world.run("export", "--stack-file", "stack.yaml")
    assert code == 0, report
    folder = world.data_dir / report["folder"]
    units = sorted(folder / f for f in report["files"] if f.endswith((".service", ".target")))
    assert [u.name for u in units] == sorted([*(f"demo-{n}.service" for n in ALL), "demo.target"])
    beta = (folder / "demo-beta.service").read_text()
    assert "Requires=demo-registry.service demo-alpha.service" in beta and "ExecStartPost=" in beta
    assert oct((folder / "demo-beta.env").stat().st_mode & 0o777) == "0o600"
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is needed to verify the exported units (apt-get install systemd)"
    cmd = [analyze, "verify", "--man=no", *map(str, units)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Unknown key" not in proc.stderr, proc.stderr


def test_exported_kubernetes_manifests_validate(world: World) -> None:
    """Deployments and Services with /ready and /health probes, tokens from a Secret, and the
    dependency order as init containers; each document validates strictly, offline, against the
    published Kubernetes schemas (kubernetes-validate ships them)."""
    import kubernetes_validate
    import yaml

    code, report = world.run("export", "--stack-file", "stack.yaml", "--format", "kubernetes")
    assert code == 0 and report["target"] == "kubernetes", report
    path = world.data_dir / report["folder"] / report["files"][0]
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # it holds the Secret
    docs = list(yaml.safe_load_all(path.read_text()))
    version = kubernetes_validate.latest_version()
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {("Deployment", f"demo-{n}") for n in ALL} | {("Service", f"demo-{n}") for n in ALL} <= kinds
    assert ("Secret", "demo-tokens") in kinds
    beta = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "demo-beta")
    pod = beta["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    waits = pod["initContainers"][0]["command"]
    assert waits[-2:] == ["http://demo-registry:8000/ready", "http://demo-alpha:8000/ready"], waits
    env = {e["name"]: e for e in container["env"]}
    assert env["BETA_API_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "demo-tokens"
    assert "value" not in env["BETA_REGISTRY_TOKEN"], "no token is written into a Deployment"
    # a broken document is refused by the same validator: the check can fail
    broken = {**beta, "spec": {**beta["spec"], "replicas": "one"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)


def test_second_apply_starts_and_stops_nothing(world: World) -> None:
    before = _pids(world)
    code, report = world.run("apply", "--stack-file", "stack.yaml")
    assert code == 0 and report["changed"] is False, report
    assert report["message"] == "converged: nothing started or stopped"
    assert {s["action"] for s in report["steps"]} == {"keep"}
    assert _pids(world) == before
    code, plan = world.run("plan", "--stack-file", "stack.yaml")
    assert plan["converged"] is True


def test_changed_settings_restart_that_server_only(world: World) -> None:
    before = _pids(world)
    gamma = f"    source: {world.sources['gamma']}\n"
    text = stack_text(world).replace(gamma, gamma + "    settings:\n      log_level: DEBUG\n")
    world.write_stack("stack.yaml", text)
    code, plan = world.run("plan", "--stack-file", "stack.yaml")
    assert [(s["server"], s["action"]) for s in plan["steps"] if s["action"] != "keep"] == [("gamma", "restart")]
    code, report = world.run("apply", "--stack-file", "stack.yaml")
    assert code == 0, report
    after = _pids(world)
    assert after["gamma"] != before["gamma"]
    assert {n: p for n, p in after.items() if n != "gamma"} == {n: p for n, p in before.items() if n != "gamma"}
    world.write_stack("stack.yaml", stack_text(world))
    assert world.run("apply", "--stack-file", "stack.yaml")[0] == 0


def test_bootstrap_checks_validate_stack_files_and_see_servers_down(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BS005 validates a project's stack files with its orchestrator; BS006 passes while the
    applied stack is up and names the server that is not."""
    from chora_base.checker.runner import run_checks

    project = world.root / "ops"
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "orchestrator").symlink_to(world.cli)
    (project / "pyproject.toml").write_text('[project]\nname = "ops"\nversion = "0"\n')
    (project / "stack.yaml").write_text(stack_text(world))
    monkeypatch.setenv("ORCHESTRATOR_DATA_DIR", str(world.data_dir))

    def results() -> dict[str, tuple[str, str]]:
        report = run_checks(project, select=["BS005", "BS006"])
        return {r.id: (r.status, r.message) for r in report.results if r.id in ("BS005", "BS006")}

    assert results() == {"BS005": ("pass", ""), "BS006": ("pass", "")}
    (project / "stacks").mkdir()
    (project / "stacks" / "bad.yaml").write_text("name: demo\nservers:\n  a:\n    source: ./nowhere\n")
    status, message = results()["BS005"]
    assert status == "fail" and "stacks/bad.yaml" in message and "line 4" in message, message
    (project / "stacks" / "bad.yaml").unlink()

    victim = _pids(world)["gamma"]
    # stopped behind the orchestrator's back (SIGTERM: it deregisters, leaving no stale record);
    # nothing supervises here, so it stays down
    os.kill(victim, signal.SIGTERM)
    wait_for(lambda: not alive(victim), 30)
    status, message = results()["BS006"]
    assert status == "fail" and "gamma: process stopped" in message, message
    assert world.run("apply", "--stack-file", "stack.yaml")[0] == 0
    assert results()["BS006"] == ("pass", "")


def test_a_server_failing_its_health_gate_rolls_back_that_run_only(world: World) -> None:
    before = _pids(world)
    # epsilon starts fine in this run; delta never passes /ready (its Host guard refuses loopback)
    extra = (
        f"  epsilon:\n    source: {world.sources['alpha']}\n"
        f"  delta:\n    source: {world.sources['gamma']}\n    depends_on: [epsilon]\n"
        "    deadline_seconds: 10\n    settings:\n      allowed_hosts: example.invalid\n"
    )
    world.write_stack("broken.yaml", stack_text(world, extra=extra))
    code, problem = world.run("apply", "--stack-file", "broken.yaml")
    assert code == 11 and problem["code"] == "apply_failed", problem
    detail = problem["detail"]
    assert "phase servers, server 'delta'" in detail and "not ready within 10 s" in detail, detail
    assert "Stopped what this run started: delta, epsilon" in detail and "Last log lines" in detail
    state = world.state("demo")
    assert state["delta"]["pid"] is None and state["epsilon"]["pid"] is None
    assert _pids(world) == before, "servers healthy before the run are untouched"
    assert all(alive(pid) for pid in before.values())


def test_down_stops_in_reverse_order_and_deregisters(world: World) -> None:
    rows = _status(world)
    code, report = world.run("down", "--stack-file", "stack.yaml")
    assert code == 0, report
    assert report["stopped"][-1] == "registry" and report["stopped"].index("beta") < report["stopped"].index("alpha")
    assert not any(alive(row["pid"]) for row in rows.values())
    # every instance deregistered: the registry's store holds none (read with its own CLI)
    registry_cli = world.data_dir / "stacks" / "demo" / "venvs" / "registry" / "bin" / "manifest"
    env = {**world.env(), "MANIFEST_DATA_DIR": str(world.data_dir / "stacks" / "demo" / "data" / "registry")}
    import json

    out = subprocess.run([str(registry_cli), "list", "--json"], capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    left = json.loads(out.stdout.strip().splitlines()[-1])["instances"]
    # Known limit: the registry cannot deregister itself (it has stopped serving HTTP by the
    # time its own shutdown hook calls it), so only its own record may remain.
    assert [i["name"] for i in left if i["name"] != "manifest"] == [], left


def test_ports_taken_by_another_program_are_checked_at_apply(world: World) -> None:
    """A port chosen in an earlier run is taken by a real listener while the stack is down:
    apply checks it by binding, gives the server a free one, and the registry holds the new
    address. A fixed port someone else holds is refused without touching the running server."""
    old = world.state("demo")["alpha"]["port"]
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # alpha's port may be in TIME_WAIT
        squatter.bind(("127.0.0.1", old))
        squatter.listen()
        code, report = world.run("apply", "--stack-file", "stack.yaml")
        assert code == 0, report
        rows = _status(world)
        assert rows["alpha"]["url"] != f"http://127.0.0.1:{old}", rows["alpha"]
        assert all((r["process"], r["health"], r["registry"]) == ("running", "ready", "up") for r in rows.values())
        before = _pids(world)
        alpha = f"    source: {world.sources['alpha']}\n"
        world.write_stack("fixed.yaml", stack_text(world).replace(alpha, alpha + f"    port: {old}\n"))
        code, problem = world.run("apply", "--stack-file", "fixed.yaml")
        assert code == 11 and f"port {old} is already in use by another process" in problem["detail"], problem
        assert _pids(world) == before and alive(before["alpha"])
    # the listener is gone: the fixed port is free, and alpha (at most with what depends on it) moves
    code, report = world.run("apply", "--stack-file", "fixed.yaml")
    assert code == 0, report
    assert _status(world)["alpha"]["url"] == f"http://127.0.0.1:{old}"
    restarted = {s["server"] for s in report["steps"] if s["action"] == "restart"}
    assert "alpha" in restarted and restarted <= {"alpha", "beta"}, report
    assert world.run("apply", "--stack-file", "stack.yaml")[0] == 0


def test_a_killed_orchestrator_is_adopted_not_twinned(world: World) -> None:
    """kill -9 of the orchestrator mid-apply; the next apply keeps what it had started."""
    apply = world.popen("apply", "--stack-file", "stack.yaml")
    try:
        wait_for(lambda: world.state("demo").get("beta", {}).get("pid"), timeout=120)
    finally:
        os.kill(apply.pid, signal.SIGKILL)
        apply.wait(timeout=30)
    started = {n: rec["pid"] for n, rec in world.state("demo").items() if rec.get("pid")}
    assert set(ALL) <= set(started)
    code, report = world.run("apply", "--stack-file", "stack.yaml")
    assert code == 0, report
    assert {s["action"] for s in report["steps"]} == {"keep"}, report
    assert {n: p for n, p in _pids(world).items()} == {n: started[n] for n in ALL}
    registry = _status(world)["registry"]["url"]
    for name in SERVERS:  # one instance each: no twin was started
        assert len(httpx.get(f"{registry}/v1/services/{name}").json()["instances"]) == 1


def test_serve_restarts_a_server_killed_with_sigkill(world: World) -> None:
    """While the orchestrator serves, a crashed server is started again and gated back to up."""
    from tests.registry.harness import free_port

    port = free_port()
    env = {**world.env(), "ORCHESTRATOR_PORT": str(port), "ORCHESTRATOR_API_TOKEN": "orchestrator-test-token"}
    serve = subprocess.Popen(
        [str(world.cli), "serve"], env=env, cwd=world.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: listening(port), timeout=60)
        # the stack's secrets are not a read: without the orchestrator's token they are refused
        base, stack = f"http://127.0.0.1:{port}/v1/stack", {"stack_file": "stack.yaml"}
        assert httpx.post(f"{base}/tokens", json=stack, timeout=10).status_code == 401
        bearer = {"Authorization": "Bearer orchestrator-test-token"}
        assert httpx.post(f"{base}/tokens", json=stack, headers=bearer, timeout=10).json()["registry_token"]
        status = httpx.get(f"{base}/status", params={**stack, "show_tokens": "true"}, timeout=10)
        assert status.status_code == 422, status.text  # no way around it through the status
        victim = _pids(world)["alpha"]
        os.kill(victim, signal.SIGKILL)

        def back_up() -> bool:
            row = _status(world)["alpha"]
            return row["pid"] not in (None, victim) and (row["health"], row["registry"]) == ("ready", "up")

        wait_for(back_up, timeout=60, every=0.2)
        assert _status(world)["alpha"]["restarts"] == 1
    finally:
        serve.terminate()
        serve.wait(timeout=30)


def test_reset_leaves_no_process_no_port_and_no_file(world: World) -> None:
    rows = _status(world)
    ports = [int(row["url"].rsplit(":", 1)[1]) for row in rows.values()]
    code, report = world.run("reset", "--stack-file", "stack.yaml")
    assert code == 0, report
    assert sorted(report["stopped"]) == sorted(ALL)
    assert {"stacks/demo/venvs", "stacks/demo/data", "stacks/demo/secrets", "stacks/demo"} <= set(report["removed"])
    assert not any(alive(row["pid"]) for row in rows.values())
    assert not any(listening(port) for port in ports)
    assert not (world.data_dir / "stacks").exists()
    # Only the orchestrator's own record of its long-running operations may remain: nothing of the stack.
    left = {p.name for p in Path(world.data_dir).iterdir()}
    assert left <= {"operations.sqlite3", "operations.sqlite3-wal", "operations.sqlite3-shm"}, left
    code, again = world.run("reset", "--stack-file", "stack.yaml")
    assert code == 0 and again["message"] == "nothing to remove"
