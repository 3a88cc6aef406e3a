"""A rendered project's ``serve`` as a real process for the runtime tests: restartable on the same
port and data, with the trip log its saga steps write (see runtime_domain.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.composition.services import free_port, kill9, stop, wait_for

PREFIX = "NOTES_SERVER_"
TOKEN = "runtime-test-token"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith((PREFIX, "PYTEST", "DBOS", "VIRTUAL_ENV"))}
    env.update(extra)
    return env


@dataclass
class Served:
    """``notes-server serve`` as a real process, restartable on the same port and data."""

    project: Path
    work: Path
    extra: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def trip_log(self) -> Path:
        return self.work / "trips.sqlite3"

    @property
    def env(self) -> dict[str, str]:
        return clean_env(
            **{
                f"{PREFIX}DATA_DIR": str(self.work / "data"),
                f"{PREFIX}PORT": str(self.port),
                f"{PREFIX}API_TOKEN": TOKEN,
                f"{PREFIX}LOG_LEVEL": "WARNING",
                "TRIP_LOG": str(self.trip_log),
                **self.extra,
            }
        )

    def program(self, name: str = "notes-server") -> str:
        return str(self.project / ".venv" / "bin" / name)

    def start(self) -> None:
        log = (self.work / "server.log").open("ab")
        self.proc = subprocess.Popen([self.program(), "serve"], env=self.env, stdout=log, stderr=log)

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, (self.work / "server.log").read_text()[-3000:]
            try:
                return httpx.get(self.url + "/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, 180, "the server to answer /health")

    def kill9(self) -> None:
        kill9(self.proc)

    def stop(self) -> None:
        stop(self.proc, grace=30)

    def log_rows(self, saga: str) -> list[tuple[str, str]]:
        if not self.trip_log.exists():
            return []
        with sqlite3.connect(self.trip_log, timeout=30) as conn:
            try:
                rows = conn.execute("SELECT step, kind FROM log WHERE saga = ? ORDER BY seq", (saga,)).fetchall()
            except sqlite3.OperationalError:  # no step ran yet
                return []
        return [(step, kind) for step, kind in rows]

    def pids(self, saga: str) -> int:
        with sqlite3.connect(self.trip_log, timeout=30) as conn:
            return conn.execute("SELECT count(DISTINCT pid) FROM log WHERE saga = ?", (saga,)).fetchone()[0]
