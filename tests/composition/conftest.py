"""Real processes on loopback for the peer tests: the registry example and two servers rendered
from the template (Recommended), a peer and a caller, each given a few operations of its own the
way an owner would add them (a service method and one table entry)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.render import install, render
from tests.registry.harness import TOKEN, Proc, Registry, example_python, free_port, registry_env, wait_for

PEER = "stamp-peer"
CALLER = "relay-caller"

# The peer records every call of its own operations (request id and trace id as it sees them)
# in a file the test reads: the count on the peer's side of what the caller sent.
PEER_SERVICE = '''

class Stamp(BaseModel):
    op: str
    request_id: str | None = None
    trace_id: str | None = None


def _record(name: str, fail: bool, hold: float) -> Stamp:
    import json
    import os
    import time

    from ..core import logs, tracing
    from ..core.errors import Unavailable

    seen = Stamp(op=name, request_id=logs.request_id.get(), trace_id=tracing.current_ids()[0])
    with open(os.environ["PEER_CALL_LOG"], "a") as log:
        log.write(json.dumps(seen.model_dump()) + "\\n")
    if hold:
        time.sleep(hold)  # the test kills this process meanwhile
    if fail:
        raise Unavailable(f"{name} was asked to fail")
    return seen


def stamp(self, fail: bool = False, hold: float = 0.0) -> Stamp:
    """Record one write (not idempotent); fail with a retryable error when asked."""
    return _record("stamp", fail, hold)


def probe(self, fail: bool = False) -> Stamp:
    """Record one read; fail with a retryable error when asked."""
    return _record("probe", fail, 0.0)


Service.stamp = stamp
Service.probe = probe
'''
PEER_TABLE = """
OPERATIONS = (
    *OPERATIONS,
    Operation(Service.stamp, "POST", "/stamps"),
    Operation(Service.probe, "GET", "/probe", read_only=True),
)
"""

CALLER_SERVICE = f'''

PEER = "{PEER}"


class Relayed(BaseModel):
    answer: Any = None


class Breakers(BaseModel):
    states: dict[str, str]


def relay_get(self, slug: Slug) -> Relayed:
    """Read a note from the peer."""
    return Relayed(answer=self.peers.call(PEER, "get_note", {{"slug": slug}}))


def relay_stamp(self, fail: bool = False, hold: float = 0.0, key: str | None = None) -> Relayed:
    """Ask the peer to record a write, with an idempotency key when given."""
    return Relayed(answer=self.peers.call(PEER, "stamp", {{"fail": fail, "hold": hold}}, idempotency_key=key))


def relay_probe(self, fail: bool = False) -> Relayed:
    """A read on the peer."""
    return Relayed(answer=self.peers.call(PEER, "probe", {{"fail": fail}}))


def relay_bad(self) -> Relayed:
    """Send the peer input its contract refuses."""
    return Relayed(answer=self.peers.call(PEER, "get_note", {{"slug": "Not A Slug"}}))


def peer_breakers(self) -> Breakers:
    """The state of each peer instance's circuit."""
    return Breakers(states=self.peers.breakers())


Service.relay_get = relay_get
Service.relay_stamp = relay_stamp
Service.relay_probe = relay_probe
Service.relay_bad = relay_bad
Service.peer_breakers = peer_breakers
'''
CALLER_TABLE = """
OPERATIONS = (
    *OPERATIONS,
    Operation(Service.relay_get, "GET", "/relay/notes/{slug}", read_only=True),
    Operation(Service.relay_stamp, "POST", "/relay/stamps"),
    Operation(Service.relay_probe, "GET", "/relay/probe", read_only=True),
    Operation(Service.relay_bad, "GET", "/relay/bad", read_only=True),
    Operation(Service.peer_breakers, "GET", "/relay/breakers", read_only=True),
)
"""


def _make(root: Path, name: str, service: str, table: str, peers: list[str]) -> Path:
    project = render("recommended", root / name, project_name=name)
    if peers:  # declared where the orchestrator and the checker read it; the server reads it too
        pyproject = project / "pyproject.toml"
        table_head = "\n[tool.chora-base]\n"
        declared = f"dependencies = {json.dumps(peers)}\n"
        pyproject.write_text(pyproject.read_text().replace(table_head, table_head + declared, 1))
    package = project / "src" / name.replace("-", "_")
    head = "from typing import Any\n\nfrom pydantic import BaseModel\n"
    source = (package / "domain" / "service.py").read_text()
    body = source.replace("from __future__ import annotations\n", "from __future__ import annotations\n\n" + head, 1)
    (package / "domain" / "service.py").write_text(body + service)
    (package / "operations.py").write_text((package / "operations.py").read_text() + table)
    install(project)
    return project


@dataclass
class Server:
    """One rendered server process, restartable on the same port and data."""

    name: str
    project: Path
    port: int
    env: dict[str, str]
    log: Path
    proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = Proc([str(self.project / ".venv" / "bin" / self.name), "serve"], self.env, self.log)
        wait_for(lambda: httpx.get(self.url + "/health", timeout=1).status_code == 200, 30)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill9()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()


@dataclass
class World:
    registry: Registry
    peer: Server
    caller: Server
    calls: Path

    def peer_calls(self, request_id: str) -> list[dict[str, Any]]:
        """What the peer recorded for calls carrying ``request_id``."""
        if not self.calls.exists():
            return []
        lines = [json.loads(line) for line in self.calls.read_text().splitlines() if line.strip()]
        return [line for line in lines if line["request_id"] == request_id]

    def registered(self, name: str) -> list[dict[str, Any]]:
        return self.registry.list(name=name)["instances"]


def _server(name: str, project: Path, work: Path, registry: str, extra: dict[str, str]) -> Server:
    prefix = name.replace("-", "_").upper() + "_"
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        f"{prefix}DATA_DIR": str(work / f"{name}-data"),
        f"{prefix}PORT": str(port),
        f"{prefix}LOG_LEVEL": "WARNING",
        f"{prefix}REGISTRY_URL": registry,
        f"{prefix}REGISTRY_TOKEN": TOKEN,
        **{prefix + k: v for k, v in extra.items()},
    }
    return Server(name, project, port, env, work / f"{name}.log")


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("composition")
    with ThreadPoolExecutor(max_workers=3) as pool:
        registry_python = pool.submit(example_python)
        peer_project = pool.submit(_make, root, PEER, PEER_SERVICE, PEER_TABLE, [])
        caller_project = pool.submit(_make, root, CALLER, CALLER_SERVICE, CALLER_TABLE, [PEER])
        python = registry_python.result()
        peer_path, caller_path = peer_project.result(), caller_project.result()
    # A TTL longer than the test: a killed peer stays listed `up`, so the caller's breaker (not
    # the registry) is what stops it calling the dead instance.
    registry = Registry(python, root, registry_env(root / "registry-data", free_port(), ttl=30.0, grace=30.0))
    calls = root / "peer-calls.jsonl"
    peer = _server(PEER, peer_path, root, registry.url, {})
    peer.env["PEER_CALL_LOG"] = str(calls)
    caller = _server(
        CALLER,
        caller_path,
        root,
        registry.url,
        {
            "PEER_RETRIES": "2",
            "PEER_TIMEOUT_SECONDS": "5",
            "PEER_BREAKER_FAILURES": "2",
            "PEER_BREAKER_RESET_SECONDS": "1",
        },
    )
    servers = [peer, caller]
    try:
        for server in servers:
            server.start()
        wait_for(lambda: registry.statuses(PEER) and registry.statuses(CALLER), 30)
        yield World(registry, peer, caller, calls)
    finally:
        for server in servers:
            server.stop()
        registry.proc.terminate()
