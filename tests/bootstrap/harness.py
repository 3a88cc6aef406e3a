"""A real stack on loopback for the bootstrap tests and bench: the orchestrator installed in its
own environment, three servers rendered from the template, and the registry example."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chora_base.render import install, render, uv_bin

ROOT = Path(__file__).resolve().parents[2]
ORCHESTRATOR = ROOT / "examples" / "orchestrator"
REGISTRY = ROOT / "examples" / "manifest"
SERVERS = ("alpha", "beta", "gamma")


@dataclass
class World:
    root: Path
    python: Path
    data_dir: Path
    sources: dict[str, Path]

    @property
    def cli(self) -> Path:
        return self.python.with_name("orchestrator")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "ORCHESTRATOR_"))}
        env.pop("VIRTUAL_ENV", None)
        env["ORCHESTRATOR_DATA_DIR"] = str(self.data_dir)
        env["UV"] = uv_bin()
        return env

    def write_stack(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(text)
        return path

    def run(self, *args: str, timeout: float = 600) -> tuple[int, Any]:
        """Run ``orchestrator <args> --json``; return the exit code and the parsed JSON."""
        proc = subprocess.run(
            [str(self.cli), *args, "--json"],
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=self.root,
            timeout=timeout,
            check=False,
        )
        lines = proc.stdout.strip().splitlines()
        try:
            data = json.loads(lines[-1]) if lines else None
        except ValueError:
            data = None
        if data is None:
            raise AssertionError(f"no JSON from {args} (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc.returncode, data

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(self.cli), *args, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
            cwd=self.root,
        )

    def state(self, stack: str) -> dict[str, Any]:
        path = self.data_dir / "stacks" / stack / "state.json"
        try:
            return json.loads(path.read_text()).get("servers", {})
        except (OSError, ValueError):
            return {}


def build_world(root: Path, servers: tuple[str, ...] = SERVERS, tier: str = "essential") -> World:
    """Render the servers (``beta`` declares a dependency on ``alpha``) and install the
    orchestrator, in parallel; the orchestrator installs the servers itself."""
    sources = {name: root / "servers" / name for name in servers}

    def make(name: str) -> None:
        render(tier, sources[name], project_name=name)
        if name == "beta":  # declared under the render's own [tool.chora-base] table
            pyproject = sources[name] / "pyproject.toml"
            text = pyproject.read_text()
            assert "\n[tool.chora-base]\n" in text, "the template renders a [tool.chora-base] table"
            table = "\n[tool.chora-base]\n"
            pyproject.write_text(text.replace(table, table + 'dependencies = ["alpha"]\n', 1))

    with ThreadPoolExecutor(max_workers=2) as pool:
        orchestrator = pool.submit(_install_orchestrator, root / "runtime")
        list(pool.map(make, servers))
        python = orchestrator.result()
    return World(root=root, python=python, data_dir=root / "state", sources=sources)


def _install_orchestrator(venv: Path) -> Path:
    """The orchestrator in an environment of its own (a copy of the example, so the example's
    own `.venv` is left alone)."""
    import shutil

    copy = venv.parent / "orchestrator-src"
    shutil.copytree(ORCHESTRATOR, copy, ignore=shutil.ignore_patterns(".venv", ".data", "__pycache__"))
    return install(copy, extras=None)


def stack_text(world: World, name: str = "demo", extra: str = "") -> str:
    lines = [f"name: {name}", "registry:", f"  source: {REGISTRY}", "  deadline_seconds: 60", "servers:"]
    for server, path in world.sources.items():
        lines += [f"  {server}:", f"    source: {path}", "    deadline_seconds: 60"]
    return "\n".join(lines) + "\n" + extra


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(check: Callable[[], Any], timeout: float, every: float = 0.05) -> Any:
    """Poll ``check`` until truthy; fail after ``timeout`` seconds."""
    stop = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < stop:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
