"""Real processes on loopback for the registry suite and bench: etcd members, the registry,
and rendered servers that register with it."""

from __future__ import annotations

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
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "manifest"
OUTPUT = ROOT / "tests" / "output"
TOKEN = "registry-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# The registry's operator token: as lease_token it acts on any instance (tests that play the
# operator send it; tests of ownership play registrants with their own leases).
OPERATOR = "operator-test-token-0001"
AS_OPERATOR = {"lease_token": OPERATOR}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], Any], timeout: float, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    stop = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < stop:
        try:
            last = check()
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def example_python() -> Path:
    """A virtualenv with the registry example installed (made once, reused)."""
    venv = OUTPUT / "registry-venv"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    wanted = hashlib.sha256((EXAMPLE / "pyproject.toml").read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python  # reused only while the example's dependencies are unchanged
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    subprocess.run([uv, "venv", "-q", "--clear", "--python", sys.executable, str(venv)], check=True)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(python), "-e", str(EXAMPLE)], check=True)
    stamp.write_text(wanted)
    return python


class Proc:
    """A child process we started; stopped by its own pid only."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.popen: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        handle = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.args,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        handle.close()

    def kill9(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(timeout=10)

    def terminate(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()

    @property
    def alive(self) -> bool:
        return bool(self.popen and self.popen.poll() is None)


class Etcd:
    """One etcd member (or a whole cluster) on loopback with temporary data dirs."""

    def __init__(self, workdir: Path, members: int = 1) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.names = [f"m{i}" for i in range(members)]
        self.client_ports = {n: free_port() for n in self.names}
        self.peer_ports = {n: free_port() for n in self.names}
        cluster = ",".join(f"{n}=http://127.0.0.1:{self.peer_ports[n]}" for n in self.names)
        self.procs: dict[str, Proc] = {}
        token = f"manifest-test-{os.getpid()}-{self.client_ports[self.names[0]]}"
        for name in self.names:
            client = f"http://127.0.0.1:{self.client_ports[name]}"
            peer = f"http://127.0.0.1:{self.peer_ports[name]}"
            args = [
                shutil.which("etcd") or "/usr/bin/etcd",
                "--name",
                name,
                "--data-dir",
                str(workdir / f"etcd-{name}"),
                "--listen-client-urls",
                client,
                "--advertise-client-urls",
                client,
                "--listen-peer-urls",
                peer,
                "--initial-advertise-peer-urls",
                peer,
                "--initial-cluster",
                cluster,
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                token,
                "--heartbeat-interval",
                "50",
                "--election-timeout",
                "500",
            ]
            self.procs[name] = Proc(args, {"PATH": os.environ.get("PATH", "")}, workdir / f"etcd-{name}.log")
        for name in self.names:
            wait_for(lambda n=name: self.healthy(n), timeout=30)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.client_ports[name]}"

    @property
    def endpoints(self) -> str:
        return ",".join(self.url(n) for n in self.names)

    def healthy(self, name: str) -> bool:
        r = httpx.get(self.url(name) + "/health", timeout=3)
        return r.status_code == 200 and r.json().get("health") == "true"

    def leader(self) -> str:
        for name in self.names:
            if not self.procs[name].alive:
                continue
            status = httpx.post(self.url(name) + "/v3/maintenance/status", json={}, timeout=2)
            data = status.json()
            if data.get("leader") == data.get("header", {}).get("member_id"):
                return name
        raise AssertionError("no etcd leader")

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.kill9()


def registry_env(
    data_dir: Path,
    port: int,
    *,
    backend: str = "sqlite",
    etcd: str | None = None,
    prefix: str = "/manifest",
    ttl: float = 2.0,
    grace: float = 4.0,
    extra: dict | None = None,
) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "MANIFEST_DATA_DIR": str(data_dir),
        "MANIFEST_PORT": str(port),
        "MANIFEST_HOST": "127.0.0.1",
        "MANIFEST_API_TOKEN": TOKEN,
        "MANIFEST_LOG_LEVEL": "WARNING",
        "MANIFEST_BACKEND": backend,
        "MANIFEST_TTL_SECONDS": str(ttl),
        "MANIFEST_GRACE_SECONDS": str(grace),
        "MANIFEST_HEARTBEAT_SECONDS": str(max(ttl / 4, 0.2)),
        "MANIFEST_SWEEP_SECONDS": "0.2",
        "MANIFEST_ETCD_PREFIX": prefix,
        "MANIFEST_OPERATOR_TOKEN": OPERATOR,
    }
    if etcd:
        env["MANIFEST_ETCD_ENDPOINTS"] = etcd
    env.update(extra or {})
    return env


class Registry:
    """The registry example served by its own CLI (`manifest serve`)."""

    def __init__(self, python: Path, workdir: Path, env: dict[str, str], name: str = "registry"):
        self.python, self.workdir, self.env = python, workdir, env
        self.port = int(env["MANIFEST_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = Proc([str(python.with_name("manifest")), "serve"], env, workdir / f"{name}.log")
        self.wait_ready()

    def wait_ready(self) -> None:
        wait_for(lambda: httpx.get(self.url + "/health", timeout=1).status_code == 200, 30)

    def restart(self) -> None:
        self.proc.start()
        self.wait_ready()

    def list(self, **params: Any) -> dict[str, Any]:
        """Every page of the listing, joined (the first page's index)."""
        r = httpx.get(self.url + "/v1/instances", params={"limit": 1000, **params}, timeout=5)
        r.raise_for_status()
        first = r.json()
        page = first
        while page.get("next_cursor"):
            r = httpx.get(
                self.url + "/v1/instances", params={"limit": 1000, **params, "cursor": page["next_cursor"]}, timeout=5
            )
            r.raise_for_status()
            page = r.json()
            first["instances"] += page["instances"]
        return first

    def instance_at(self, port: int, name: str = "manifest") -> str | None:
        """The instance id registered for the server serving ``port`` (its REST endpoint)."""
        for record in self.list(name=name)["instances"]:
            if record["interfaces"].get("rest") == f"http://127.0.0.1:{port}":
                return record["instance_id"]
        return None

    def statuses(self, name: str | None = None) -> dict[str, str]:
        params = {"name": name} if name else {}
        return {i["instance_id"]: i["status"] for i in self.list(**params)["instances"]}


def start_server(
    python: Path, workdir: Path, registry_url: str, label: str, *, port_flag: bool = False
) -> tuple[Proc, int]:
    """A rendered server (the example itself, on its own port and store) that registers.

    Returns the process and its port; the registry names the instance (``Registry.instance_at``).
    With ``port_flag`` the port is given as ``serve --port N`` instead of in the environment.
    """
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "MANIFEST_DATA_DIR": str(workdir / f"{label}-data"),
        "MANIFEST_PORT": str(port),
        "MANIFEST_API_TOKEN": "server-token",
        "MANIFEST_LOG_LEVEL": "WARNING",
        "MANIFEST_REGISTRY_URL": registry_url,
        "MANIFEST_REGISTRY_TOKEN": TOKEN,
    }
    args = [str(python.with_name("manifest")), "serve"]
    if port_flag:
        del env["MANIFEST_PORT"]
        args += ["--port", str(port)]
    proc = Proc(args, env, workdir / f"{label}.log")
    return proc, port
