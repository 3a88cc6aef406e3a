"""Installing, starting, watching and stopping server processes.

Servers run in their own session (process group), detached from the orchestrator, so a
stopped or killed orchestrator leaves them running and a later apply adopts them. A process is
identified by its pid plus the kernel's start time of that pid (``/proc/<pid>/stat``).
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
from collections.abc import Callable
from pathlib import Path

from .probe import get, ready, registry_status  # noqa: F401 - the engine and etcd.py call them here
from .stackfile import source_kind, source_path

#: Children this process started: kept so their exit is reaped (no zombies while serve runs).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class StepFailed(Exception):
    def __init__(self, phase: str, server: str, reason: str, log_tail: list[str] | None = None) -> None:
        super().__init__(reason)
        self.phase, self.server, self.reason, self.log_tail = phase, server, reason, log_tail or []


def uv_bin() -> str:
    """uv from UV, next to this interpreter, or on PATH (the bootstrap installs it beside us)."""
    for candidate in (os.environ.get("UV"), str(Path(sys.executable).with_name("uv")), shutil.which("uv")):
        if candidate and Path(candidate).exists():
            return candidate
    raise StepFailed("install", "-", "uv not found: install it next to the orchestrator (pip install uv)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        # as uvicorn binds: a port whose last user just died (TIME_WAIT) counts as free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def source_fingerprint(source: str, base: Path) -> str:
    """Changes when the source changes: for a path, any file's size or modification time."""
    digest = hashlib.sha256(source.encode())
    if source_kind(source) == "path":
        root = source_path(source, base)
        skip = {".venv", ".git", "__pycache__", ".data", ".pytest_cache", ".ruff_cache", "node_modules"}
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if skip.intersection(rel.parts) or not path.is_file():
                continue
            stat = path.stat()
            digest.update(f"{rel}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def install(server: str, source: str, base: Path, venv: Path) -> dict[str, str]:
    """Install ``source`` into its own venv with uv; return what it serves (dist, command, prefix).

    uv resolves from its cache alone first (``--offline``): asking the index to revalidate every
    package costs a round trip each; only when the cache lacks something does it go online."""
    uv = uv_bin()
    target = ["-e", str(source_path(source, base))] if source_kind(source) == "path" else [source]
    _uv(server, uv_env(), [uv, "venv", "-q", "--clear", "--python", sys.executable, str(venv)])
    _pip(server, uv, venv, target)
    return describe(server, venv)


def install_own(server: str, source: str, base: Path, venv: Path, shared: Path) -> None:
    """Install a local project alone (``--no-deps``) into its own venv, which reaches its
    dependencies in the shared environment (see layer.py)."""
    from . import layer

    uv = uv_bin()
    _uv(server, uv_env(), [uv, "venv", "-q", "--clear", "--python", sys.executable, str(venv)])
    layer.link(venv, shared)
    _pip(server, uv, venv, ["--no-deps", "-e", str(source_path(source, base))])


def complete(server: str, source: str, base: Path, venv: Path) -> dict[str, str]:
    """Give a venv made by ``install_own`` its dependencies after all (the shared environment
    could not be built): the same as a whole install, without building the venv again."""
    from . import layer

    layer.link(venv, None)
    target = ["-e", str(source_path(source, base))] if source_kind(source) == "path" else [source]
    _pip(server, uv_bin(), venv, target)
    return describe(server, venv)


def uv_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _pip(server: str, uv: str, venv: Path, target: list[str]) -> None:
    pip = [uv, "pip", "install", "-q", "-p", str(venv / "bin" / "python"), *target]
    if _uv(server, uv_env(), [*pip, "--offline"], check=False) != 0:
        _uv(server, uv_env(), pip)


def _uv(server: str, env: dict[str, str], cmd: list[str], check: bool = True) -> int:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=900)
    if check and proc.returncode != 0:
        raise StepFailed("install", server, f"`{' '.join(cmd[1:3])}` failed", proc.stderr.splitlines()[-10:])
    return proc.returncode


def describe(server: str, venv: Path) -> dict[str, str]:
    """Find the capability server installed in ``venv``: the one console script of its CLI.

    Read from the environment's metadata files in this process (no interpreter to start)."""
    from importlib import metadata

    found = [
        {"dist": dist.metadata["Name"], "command": ep.name, "package": ep.value.split(".")[0]}
        for site in venv.glob("lib/python*/site-packages")
        for dist in metadata.distributions(path=[str(site)])
        for ep in dist.entry_points
        if ep.group == "console_scripts" and ep.value.endswith(".interfaces.cli:main")
    ]
    if len(found) != 1:
        raise StepFailed("install", server, f"expected one capability server in its environment, found {len(found)}")
    item = found[0]
    return {"dist": item["dist"], "command": item["command"], "env_prefix": item["package"].upper() + "_"}


def start(argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> tuple[int, str]:
    log.parent.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    # Bytecode is written (under the prefix the caller gives, inside the stack's folder) even
    # where PYTHONDONTWRITEBYTECODE is set: without it every start and restart recompiles every
    # module it imports, which doubles a server's start-up.
    dropped = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")
    full_env = {k: v for k, v in os.environ.items() if k not in dropped}
    full_env.update(env)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid, start_identity(proc.pid) or "?"


def start_identity(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None if no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None if not _exists(pid) else "?"
    fields = raw[raw.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # exited, not yet reaped
        _reap(pid)
        return None
    return fields[19]


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap(pid: int) -> None:
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.poll()


def alive(pid: int | None, identity: str | None) -> bool:
    if not pid:
        return False
    if pid in _CHILDREN and _CHILDREN[pid].poll() is not None:
        _CHILDREN.pop(pid, None)
        return False
    now = start_identity(pid)
    return now is not None and (identity in (None, "?") or now == identity)


def stop(pid: int, identity: str | None, timeout: float = 10.0) -> bool:
    """SIGTERM the server's process group (it deregisters on a clean stop); SIGKILL after
    ``timeout``. Returns whether it had to be killed."""
    if not alive(pid, identity):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    if wait_for(lambda: not alive(pid, identity), timeout):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid, identity), 5.0)
    return True


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.02, most: float = 0.2) -> bool:
    """Poll ``condition`` until true or ``timeout``: a process and an HTTP endpoint offer nothing to
    block on, so the orchestrator polls instead of waiting a fixed time. It looks often at first
    (most waits end within a second) and backs off to ``most`` between looks, so a slow start
    does not spend the CPU the starting servers need."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        now = time.monotonic()
        if now >= deadline:
            return False
        time.sleep(min(interval, deadline - now))
        interval = min(interval * 1.5, most)


def log_size(log: Path) -> int:
    try:
        return log.stat().st_size
    except OSError:
        return 0


def tail(log: Path, lines: int = 20, since: int = 0) -> list[str]:
    try:
        with open(log, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(since, size - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]
