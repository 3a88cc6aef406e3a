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
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    target = ["-e", str(source_path(source, base))] if source_kind(source) == "path" else [source]
    _uv(server, env, [uv, "venv", "-q", "--clear", "--python", sys.executable, str(venv)])
    pip = [uv, "pip", "install", "-q", "-p", str(venv / "bin" / "python"), *target]
    if _uv(server, env, [*pip, "--offline"], check=False) != 0:
        _uv(server, env, pip)
    return describe(server, venv)


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


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``condition`` until true or ``timeout``: a process and an HTTP endpoint offer nothing to
    block on, so the orchestrator polls, briefly, instead of waiting a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


_HTTP: Any = None
_HTTP_LOCK = threading.Lock()


def http() -> Any:
    """One client for every health and registry poll: a client per request would build a TLS
    context and a connection each time, costing CPU the starting servers need."""
    global _HTTP
    import httpx  # imported on use: CLI start-up stays light

    with _HTTP_LOCK:
        if _HTTP is None:
            _HTTP = httpx.Client(timeout=1.0, limits=httpx.Limits(max_keepalive_connections=32))
        return _HTTP


def ready(url: str, timeout: float = 1.0) -> str:
    import httpx

    try:
        response = http().get(f"{url}/ready", timeout=timeout)
    except httpx.HTTPError:
        return "unreachable"
    return "ready" if response.status_code == 200 else "not_ready"


def registry_status(registry_url: str | None, dist: str | None, url: str, timeout: float = 1.0) -> str:
    """The status the registry holds for the process serving ``url``, or '-'."""
    if not registry_url or not dist:
        return "-"
    import httpx

    try:
        response = http().get(f"{registry_url}/v1/services/{dist}", timeout=timeout)
        instances = response.json().get("instances", []) if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError):
        return "-"
    # A process killed without deregistering leaves its record behind (at the same address
    # when its successor kept the port): the latest registration at this address is ours.
    here = [i for i in instances if str(i.get("interfaces", {}).get("rest", "")).rstrip("/") == url]
    if not here:
        return "-"
    return str(max(here, key=lambda i: float(i.get("registered_at") or 0)).get("status", "-"))


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
