"""Render the template with real Copier and install the result with real uv.

A render or install that fails raises AssertionError with the tool's output, so a test that
needs a project fails (never skips) when the template is broken.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TIERS = ("essential", "recommended", "advanced")
DEFAULT_ANSWERS = {"project_name": "notes-server"}


def uv_bin() -> str:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except ImportError:
        found = shutil.which("uv")
        assert found, "uv is required to install rendered projects (pip install uv)"
        return found


def copier_cmd() -> list[str]:
    return [sys.executable, "-m", "copier"]


def render(tier: str, dest: Path, template: Path = REPO, vcs_ref: str | None = "HEAD",
           **answers: str) -> Path:
    """`copier copy` the template at `tier` into `dest` with default answers otherwise."""
    data = {**DEFAULT_ANSWERS, **answers, "tier": tier}
    cmd = [*copier_cmd(), "copy", "--defaults", "--quiet"]
    if vcs_ref:
        cmd += ["--vcs-ref", vcs_ref]
    for key, value in data.items():
        cmd += ["--data", f"{key}={value}"]
    proc = subprocess.run([*cmd, str(template), str(dest)], capture_output=True, text=True,
                          check=False, timeout=300)
    assert proc.returncode == 0, f"copier copy ({tier}) failed:\n{proc.stdout}\n{proc.stderr}"
    return dest


def install(project: Path) -> Path:
    """Install `project` with its dev extra into `project/.venv`; return that interpreter.

    uv shares its download cache across projects (UV_CACHE_DIR if set), so each install after
    the first is mostly linking.
    """
    venv = project / ".venv"
    env = {**os.environ}
    proc = subprocess.run([uv_bin(), "venv", "-q", "--clear", "--python", sys.executable, str(venv)],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, f"uv venv failed:\n{proc.stderr}"
    python = venv / "bin" / "python"
    proc = subprocess.run([uv_bin(), "pip", "install", "-q", "-p", str(python), "-e",
                           f"{project}[dev]"], capture_output=True, text=True, env=env,
                          check=False, timeout=900)
    assert proc.returncode == 0, f"installing {project} failed:\n{proc.stderr}"
    return python


def run_in(project: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run a program from the project's own environment, in the project folder."""
    program = project / ".venv" / "bin" / args[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run([str(program), *args[1:]], cwd=project, capture_output=True,
                          text=True, env=env, timeout=timeout, check=False)
