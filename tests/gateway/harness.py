"""A federation on loopback for the gateway tests and bench: the registry example, servers
rendered from the template (all installed in one environment with the gateway example), and
the gateway, each a real process."""

from __future__ import annotations

import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from chora_base.render import render, uv_bin
from tests.registry.harness import TOKEN as REGISTRY_TOKEN
from tests.registry.harness import Proc, Registry, example_python, free_port, registry_env, wait_for

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "examples" / "gateway"
GATEWAY_TOKEN = "gateway-client-token"
BACKEND_TOKEN = "backend-token"  # every backend's API token; only the gateway holds it
TTL = 3.0


def build(root: Path, servers: tuple[str, ...]) -> Path:
    """Render ``servers`` (Advanced tier) and install them with the gateway in one environment."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda name: render("advanced", root / name, project_name=name), servers))
    venv = root / "venv"
    subprocess.run([uv_bin(), "venv", "-q", str(venv)], check=True)
    args = [uv_bin(), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "-e", str(GATEWAY)]
    for name in servers:
        args += ["-e", str(root / name)]
    subprocess.run(args, check=True)
    return venv / "bin"


@dataclass
class World:
    root: Path
    bin: Path
    registry: Registry
    gateway_port: int = 0
    gateway: Proc | None = None
    servers: dict[str, list[tuple[Proc, int]]] = field(default_factory=dict)

    @property
    def mcp_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}/mcp"

    def start_server(self, name: str) -> tuple[Proc, int]:
        port = free_port()
        prefix = name.upper().replace("-", "_") + "_"
        env = {
            "PATH": os.environ.get("PATH", ""),
            prefix + "DATA_DIR": str(self.root / f"{name}-{port}-data"),
            prefix + "PORT": str(port),
            prefix + "API_TOKEN": BACKEND_TOKEN,
            prefix + "LOG_LEVEL": "WARNING",
            prefix + "REGISTRY_URL": self.registry.url,
            prefix + "REGISTRY_TOKEN": REGISTRY_TOKEN,
        }
        proc = Proc([str(self.bin / name), "serve"], env, self.root / f"{name}-{port}.log")
        self.servers.setdefault(name, []).append((proc, port))
        wait_for(lambda: self.registry.instance_at(port, name) is not None, 60)
        return proc, port

    def start_gateway(self, **extra: str) -> None:
        self.gateway_port = free_port()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "GATEWAY_DATA_DIR": str(self.root / "gateway-data"),
            "GATEWAY_PORT": str(self.gateway_port),
            "GATEWAY_API_TOKEN": GATEWAY_TOKEN,
            "GATEWAY_LOG_LEVEL": "WARNING",
            "GATEWAY_REGISTRY_URL": self.registry.url,
            "GATEWAY_REGISTRY_TOKEN": REGISTRY_TOKEN,
            "GATEWAY_BACKEND_TOKEN": BACKEND_TOKEN,
            "GATEWAY_CALL_TIMEOUT_SECONDS": "1",
            "GATEWAY_BREAKER_RESET_SECONDS": "1",
            **extra,
        }
        self.gateway = Proc([str(self.bin / "gateway"), "serve"], env, self.root / "gateway.log")
        url = f"http://127.0.0.1:{self.gateway_port}/health"
        wait_for(lambda: httpx.get(url, timeout=1).status_code == 200, 60)

    def health(self) -> dict[str, Any]:
        response = httpx.get(
            f"http://127.0.0.1:{self.gateway_port}/v1/ecosystem",
            headers={"Authorization": f"Bearer {GATEWAY_TOKEN}"},
            timeout=5,
        )
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        procs = [p for group in self.servers.values() for p, _ in group] + [self.gateway]
        for proc in procs:
            if proc is not None and proc.popen is not None and proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
                proc.terminate()
        self.registry.proc.terminate()


def start_world(
    root: Path, servers: tuple[str, ...], started: tuple[str, ...], *, ttl: float = TTL, **gateway_env: str
) -> World:
    root.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        built = pool.submit(build, root, servers)
        python = pool.submit(example_python)
        bin_dir, registry_python = built.result(), python.result()
    port = free_port()
    env = registry_env(root / "registry-data", port, ttl=ttl, grace=30.0)
    world = World(root=root, bin=bin_dir, registry=Registry(registry_python, root, env))
    try:
        for name in started:
            world.start_server(name)
        world.start_gateway(**gateway_env)
    except BaseException:
        world.stop()
        raise
    return world


@asynccontextmanager
async def client(url: str, token: str = GATEWAY_TOKEN) -> Any:
    """An official MCP SDK client session over streamable HTTP."""
    import httpx2  # the MCP SDK's HTTP client
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    transport = streamable_http_client(url, http_client=http)
    async with Client(transport) as session:
        yield session
