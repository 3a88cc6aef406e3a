"""A served Advanced project runs its sagas and events itself (core/runtime.py, core/saga_operation.py).

An owner's domain (runtime_domain.py) declares a three-step saga, exposes it as one long-running
operation (``follow``), records events through the outbox and declares one consumer
(``events.consumes``). The server process, started with ``serve``, must:

- run the saga operation on every interface: REST (202 + operation resource, progress per step,
  ``failed`` with a ``saga_failed`` problem once compensated, ``cancelled`` after compensating on a
  cancel request), the CLI (``--url``) and MCP (progress notifications);
- launch the saga database itself, so a saga its predecessor was running when killed with -9 is
  resumed at restart (no completed step run again);
- relay the outbox and run the consumer itself, through JetStream or, with no broker, in process;
- import no DBOS or NATS where nothing needs them (``--help`` of a domain declaring sagas; a
  server declaring no saga and no consumer).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.composition import runtime_domain
from tests.composition.served import PREFIX, TOKEN, Served, clean_env
from tests.composition.services import NatsServer, nats_server, wait_for
from tests.helpers.render import install, render

__all__ = ["nats_server"]  # a fixture used by name below

AUTH = {"Authorization": f"Bearer {TOKEN}"}
MCP_CALL = Path(__file__).parent / "hosts" / "mcp_call.py"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rendered Advanced project with the owner's saga, events and consumer added."""
    dest = render("advanced", tmp_path_factory.mktemp("runtime") / "notes-server")
    package = dest / "src" / "notes_server"
    for path, addition in (
        (package / "domain" / "service.py", runtime_domain.SERVICE),
        (package / "domain" / "repository.py", runtime_domain.REPOSITORY),
        (package / "operations.py", runtime_domain.TABLE),
    ):
        path.write_text(path.read_text() + addition)
    install(dest)
    return dest


@pytest.fixture
def served(project: Path, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(**extra: str) -> Served:
        server = Served(project, tmp_path, extra)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def follow(http: httpx.Client, started: httpx.Response, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Long-poll the operation resource until ``until`` holds or it is done."""
    location, status = started.headers["location"], started.json()
    seen = [status]
    while not until(status) and not status["done"]:
        answer = http.get(location, params={"revision": status["revision"], "wait_seconds": 10})
        assert answer.status_code == 200, answer.text
        status = answer.json()
        seen.append(status)
    status["seen"] = seen
    return status


def test_saga_operation_over_rest_succeeds_fails_and_cancels(served: Callable[..., Served]) -> None:
    server = served()
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as http:
        started = http.post("/v1/trips", json={"trip": "rest-ok"})
        assert started.status_code == 202, started.text
        assert started.headers["location"] == f"/v1/operations/{started.json()['id']}"
        done = follow(http, started, lambda s: False)
        assert done["state"] == "succeeded", done
        assert done["result"]["state"] == "completed"
        assert [s["state"] for s in done["result"]["steps"]] == ["done", "done", "done"]
        assert done["progress"] == 1.0 and done["message"] == "trip: completed"
        assert server.log_rows("trip-rest-ok") == [("reserve", "do"), ("charge", "do"), ("confirm", "do")]

        failing = http.post("/v1/trips", json={"trip": "rest-fail", "fail_step": "confirm"})
        failed = follow(http, failing, lambda s: False)
        assert failed["state"] == "failed", failed
        problem = failed["problem"]
        assert (problem["code"], problem["status"]) == ("saga_failed", 409)
        assert "confirm: trip_declined: confirm declined" in problem["detail"]
        assert [(s["name"], s["state"]) for s in problem["saga"]["steps"]] == [
            ("reserve", "compensated"),
            ("charge", "compensated"),
            ("confirm", "failed"),
        ]
        assert server.log_rows("trip-rest-fail") == [
            ("reserve", "do"),
            ("charge", "do"),
            ("confirm", "do"),
            ("charge", "undo"),
            ("reserve", "undo"),
        ]

        held = http.post("/v1/trips", json={"trip": "rest-cancel", "hold_step": "charge"})
        assert held.status_code == 202, held.text
        wait_for(lambda: (server.work / "trip-rest-cancel.charge.started").exists(), 120, "the charge step")
        running = follow(http, held, lambda s: s["progress"] > 0)
        assert running["state"] == "running" and running["message"] == "charge: running", running
        assert running["progress"] == pytest.approx(1 / 3)
        cancelled = http.post(f"/v1/operations/{held.json()['id']}:cancel")
        assert cancelled.status_code == 200, cancelled.text
        (server.work / "trip-rest-cancel.release").touch()  # charge completes; the saga then sees the request
        final = follow(http, held, lambda s: False)
        assert final["state"] == "cancelled", final
        assert final["problem"]["code"] == "cancelled"
        assert server.log_rows("trip-rest-cancel") == [
            ("reserve", "do"),
            ("charge", "do"),
            ("charge", "undo"),
            ("reserve", "undo"),
        ]
        messages = [s["message"] for s in final["seen"]]
        assert "trip: cancelled" in messages[-1]


def test_saga_operation_from_the_cli_and_over_mcp(served: Callable[..., Served]) -> None:
    server = served()
    cli = [server.program(), "book-trip", "--url", server.url, "--json"]
    ok = subprocess.run([*cli, "--trip", "cli-ok"], capture_output=True, text=True, env=server.env, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["state"] == "completed"
    assert "book_trip: 0% reserve: running" in ok.stderr, ok.stderr  # one line per progress seen

    bad = subprocess.run(
        [*cli, "--trip", "cli-fail", "--fail-step", "charge"],
        capture_output=True,
        text=True,
        env=server.env,
        timeout=300,
    )
    assert bad.returncode == 10, (bad.stdout, bad.stderr)
    assert json.loads(bad.stdout)["code"] == "saga_failed"
    assert server.log_rows("trip-cli-fail") == [("reserve", "do"), ("charge", "do"), ("reserve", "undo")]

    # Without --url the CLI runs the saga itself, on the saga database the running server uses: it
    # launches DBOS without resuming anything, so it never takes over a saga the server runs.
    here = [server.program(), "book-trip", "--trip", "cli-here", "--json"]
    local = subprocess.run(here, capture_output=True, text=True, env=server.env, timeout=300)
    assert local.returncode == 0, local.stderr[-3000:]
    assert json.loads(local.stdout)["state"] == "completed"
    assert server.log_rows("trip-cli-here") == [("reserve", "do"), ("charge", "do"), ("confirm", "do")]

    python = str(server.project / ".venv" / "bin" / "python")
    call = subprocess.run(
        [python, str(MCP_CALL), server.url, TOKEN, "book_trip", json.dumps({"trip": "mcp-ok"})],
        capture_output=True,
        text=True,
        env=server.env,
        timeout=300,
    )
    assert call.returncode == 0, call.stderr[-3000:]
    outcome = json.loads(call.stdout.strip().splitlines()[-1])
    assert not outcome["is_error"], outcome
    assert outcome["structured"]["state"] == "completed"
    assert outcome["progress"] and outcome["progress"][-1] == 1.0
    assert server.log_rows("trip-mcp-ok") == [("reserve", "do"), ("charge", "do"), ("confirm", "do")]


def test_server_killed_mid_saga_resumes_it_at_restart(served: Callable[..., Served]) -> None:
    server = served()
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as http:
        held = http.post("/v1/trips", json={"trip": "crash", "hold_step": "charge"})
        assert held.status_code == 202, held.text
    wait_for(lambda: (server.work / "trip-crash.charge.started").exists(), 120, "the charge step")
    server.kill9()
    (server.work / "trip-crash.release").touch()
    restarted = time.monotonic()
    server.start()
    wait_for(lambda: ("confirm", "do") in server.log_rows("trip-crash"), 120, "the saga to resume and finish")
    print(f"\nsaga resumed and finished {time.monotonic() - restarted:.2f} s after the server was started again")
    # reserve completed before the kill: never again; charge was interrupted: run once more.
    assert server.log_rows("trip-crash") == [("reserve", "do"), ("charge", "do"), ("charge", "do"), ("confirm", "do")]
    assert server.pids("trip-crash") == 2


@pytest.mark.parametrize("broker", ["in-process", "jetstream"])
def test_server_relays_its_outbox_and_runs_its_consumer(
    served: Callable[..., Served], broker: str, request: pytest.FixtureRequest
) -> None:
    extra = {}
    if broker == "jetstream":
        nats: NatsServer = request.getfixturevalue("nats_server")
        extra = {f"{PREFIX}NATS_URL": nats.url, f"{PREFIX}EVENTS_STREAM": f"RUNTIME_{os.getpid()}"}
    server = served(**extra)
    count = 40
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as http:
        for n in range(count // 2):
            assert http.post("/v1/facts", json={"n": n}).status_code == 200
        # The CLI writes in its own process: the server's relay sends what it recorded too.
        for n in range(count // 2, count):
            cli = [server.program(), "record-fact", "--n", str(n), "--json"]
            done = subprocess.run(cli, capture_output=True, text=True, env=server.env, timeout=120)
            assert done.returncode == 0, done.stderr

        def handled() -> dict[str, int]:
            return http.get("/v1/facts/handled").json()

        wait_for(lambda: handled()["effects"] >= count, 120, f"{count} events handled ({broker})")
        wait_for(lambda: handled()["unsent"] == 0, 60, "the outbox to be marked sent")
        assert handled() == {"facts": count, "effects": count, "inbox": count, "unsent": 0}


def test_nothing_heavy_is_imported_where_nothing_needs_it(
    project: Path, rendered_project: Callable[[str], Path], tmp_path: Path
) -> None:
    # --help of a domain that declares a saga and a consumer: neither DBOS nor NATS.
    python = str(project / ".venv" / "bin" / "python")
    env = clean_env(**{f"{PREFIX}DATA_DIR": str(tmp_path / "a")})
    helped = subprocess.run(
        [python, "-X", "importtime", "-m", "notes_server", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert helped.returncode == 0, helped.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in helped.stderr.splitlines() if "|" in line}
    assert "notes_server.core.saga" in imported  # the domain did declare its saga
    assert not {"dbos", "nats", "sqlalchemy"} & imported

    # The stock project declares no saga and no consumer: its server starts neither.
    stock = rendered_project("advanced")
    probe = (
        "import json, sys, threading\n"
        "from fastapi.testclient import TestClient\n"
        "from notes_server.interfaces.rest import create_app\n"
        "with TestClient(create_app(), base_url='http://127.0.0.1') as client:\n"
        "    assert client.get('/health').status_code == 200\n"
        "    heavy = sorted({'dbos', 'nats'} & set(sys.modules))\n"
        "    print(json.dumps({'heavy': heavy, 'threads': [t.name for t in threading.enumerate()]}))\n"
    )
    env = clean_env(**{f"{PREFIX}DATA_DIR": str(tmp_path / "b")})
    ran = subprocess.run(
        [str(stock / ".venv" / "bin" / "python"), "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    seen = json.loads(ran.stdout.strip().splitlines()[-1])
    assert seen["heavy"] == [] and "events" not in seen["threads"], seen
