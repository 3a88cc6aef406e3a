"""One shared environment holding the dependencies of a stack's local servers.

Each server still gets an environment of its own, holding only its own project (editable) and
a ``.pth`` line that puts the shared environment's ``site-packages`` after its own. Why: Python
keeps bytecode per source path, so six environments holding six copies of FastAPI, pydantic and
uvicorn compile them six times on their first start (about 2 s of CPU per server, most of a
cold bring-up). Sharing one copy means the registry compiles them once and every later server
finds them compiled; installing the dependencies is one resolution and one link pass instead of
one per server.

Only servers from a local path whose ``pyproject.toml`` lists its dependencies statically take
part; when their dependencies cannot be resolved together, each is installed whole into its own
environment as before.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from .stackfile import source_kind, source_path

if TYPE_CHECKING:
    from .tracker import Tracker

#: the folder under ``venvs/`` (server names start with a letter, so none can be called this)
NAME = "_shared"
#: the line in a server's environment that reaches the shared one
PTH = "_stack_shared.pth"


def requirements(source: str, base: Path) -> list[str] | None:
    """The dependencies a local project declares, or None when it cannot take part."""
    if source_kind(source) != "path":
        return None
    try:
        project = tomllib.loads((source_path(source, base) / "pyproject.toml").read_text()).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    if "dependencies" in project.get("dynamic", []):
        return None
    deps = project.get("dependencies", [])
    return [str(d) for d in deps] if isinstance(deps, list) else None


def site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def build(uv: str, env: dict[str, str], venv: Path, wanted: list[str]) -> bool:
    """Make ``venv`` hold ``wanted`` (added to what it has); False when they do not resolve
    together. Skipped when the environment already holds exactly this list."""
    marker = venv / "requirements.txt"
    text = "\n".join(sorted(set(wanted))) + "\n"
    python = venv / "bin" / "python"
    with contextlib.suppress(OSError):
        if python.exists() and marker.read_text() == text:
            return True
    if not python.exists():
        made = subprocess.run(
            [uv, "venv", "-q", "--python", sys.executable, str(venv)], capture_output=True, env=env, check=False
        )
        if made.returncode != 0:
            return False
    marker.unlink(missing_ok=True)  # written again only once the install succeeded
    requirements_in = venv / "requirements.in"
    requirements_in.write_text(text)
    pip = [uv, "pip", "install", "-q", "-p", str(python), "-r", str(requirements_in)]
    for attempt in ([*pip, "--offline"], pip):  # the cache first: no round trip per package
        if subprocess.run(attempt, capture_output=True, env=env, check=False, timeout=900).returncode == 0:
            marker.write_text(text)
            return True
    return False


def link(venv: Path, shared: Path | None) -> None:
    """Point a server's environment at the shared one (or at nothing)."""
    pth = site_packages(venv) / PTH
    if shared is None:
        pth.unlink(missing_ok=True)
        return
    pth.write_text(str(site_packages(shared)) + os.linesep)


def intact(venv: Path) -> bool:
    """A server's environment exists, and so does the shared one it points at, if any."""
    if not (venv / "bin" / "python").exists():
        return False
    pth = site_packages(venv) / PTH
    try:
        target = Path(pth.read_text().strip())
    except OSError:
        return True
    return target.is_dir() and (target.parents[2] / "requirements.txt").exists()


class SharedLayer:
    """The shared environment of one apply, built on a thread of its own while the servers'
    own environments are made; ``ready`` waits for it."""

    def __init__(self, venv: Path, members: set[str]) -> None:
        self.venv, self.members = venv, members
        self.ok = False
        self._done = threading.Event()

    def build(self, wanted: list[str], tracker: Tracker) -> None:
        from . import processes as proc

        try:
            with tracker.part("-", "shared environment"):
                self.ok = build(proc.uv_bin(), proc.uv_env(), self.venv, wanted)
        except Exception:  # noqa: BLE001 - each server then installs whole, as without a layer
            self.ok = False
        finally:
            self._done.set()

    def ready(self) -> bool:
        self._done.wait()
        return self.ok
