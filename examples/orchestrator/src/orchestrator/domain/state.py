"""What the orchestrator records about a stack, under ``<data_dir>/stacks/<name>/``.

``state.json`` holds each server's process (pid plus the kernel's start time of that pid, so a
recycled pid is never mistaken for ours), its port and the fingerprints apply compares. Secrets
live in ``secrets/`` (mode 0600, folder 0700), generated once. Everything the orchestrator
creates for a stack is inside this one folder, which is what makes ``reset`` complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import StackBusy


@dataclass
class ServerRecord:
    port: int
    #: an etcd member's second port (its peers talk to it there)
    peer_port: int | None = None
    pid: int | None = None
    start_time: str | None = None
    install_fingerprint: str | None = None
    run_fingerprint: str | None = None
    dist: str | None = None
    command: str | None = None
    env_prefix: str | None = None
    #: set by the supervisor when the server crashed more often than its limit allows
    failed: bool = False
    restarts: int = 0
    #: where the current process's lines start in its log (a failure shows only those)
    log_offset: int = 0


@dataclass
class StackState:
    root: Path
    servers: dict[str, ServerRecord] = field(default_factory=dict)
    #: the stack as last applied (its text and the folder its paths start from), for supervision
    stack_text: str | None = None
    base: str | None = None
    #: apply's workers save from several threads
    _saving: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def file(self) -> Path:
        return self.root / "state.json"

    def venv(self, server: str) -> Path:
        return self.root / "venvs" / server

    def data(self, server: str) -> Path:
        return self.root / "data" / server

    @property
    def pycache(self) -> Path:
        """Where the servers write their bytecode (PYTHONPYCACHEPREFIX): inside this folder, so
        it litters no source tree, and reset removes it."""
        return self.root / "pycache"

    def log(self, server: str) -> Path:
        return self.root / "logs" / f"{server}.log"

    @classmethod
    def open(cls, root: Path) -> StackState:
        state = cls(root)
        with contextlib.suppress(FileNotFoundError):
            raw = json.loads(state.file.read_text())
            state.servers = {name: ServerRecord(**rec) for name, rec in raw.get("servers", {}).items()}
            state.stack_text, state.base = raw.get("stack_text"), raw.get("base")
        return state

    def save(self) -> None:
        """Written atomically after every change, so a killed orchestrator leaves a true record."""
        with self._saving:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_suffix(".tmp")
            servers = {n: asdict(r) for n, r in self.servers.items()}
            raw = {"servers": servers, "stack_text": self.stack_text, "base": self.base}
            tmp.write_text(json.dumps(raw, indent=2))
            os.replace(tmp, self.file)

    def secret(self, name: str, create: bool = True) -> str | None:
        """A token generated once and kept with mode 0600; None when absent and not created."""
        folder = self.root / "secrets"
        path = folder / name
        with contextlib.suppress(FileNotFoundError):
            return path.read_text().strip()
        if not create:
            return None
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
        value = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(value)
        return value

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One apply, down or reset at a time per stack (across processes)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StackBusy(f"Stack folder {self.root.name!r} is in use by another apply, down or reset") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
