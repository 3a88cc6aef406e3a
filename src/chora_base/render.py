"""Render the template with real Copier and install the result with real uv.

One implementation shared by the tests, the docs generator and the contract generator.
Failures raise ``RenderError`` carrying the tool's output, so a test that needs a project
fails (never skips) when the template is broken.
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


class RenderError(AssertionError):
    """Copier or uv failed; the message holds their output."""


def uv_bin() -> str:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except ImportError:
        found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
        if not Path(found).exists():
            raise RenderError("uv is needed to install a rendered project (pip install uv)") from None
        return found


def copier_cmd() -> list[str]:
    return [sys.executable, "-m", "copier"]


def render_with_message(
    tier: str, dest: Path, template: Path = REPO, vcs_ref: str | None = "HEAD", cwd: Path | None = None, **answers: str
) -> tuple[Path, str]:
    """`copier copy` the template at `tier` into `dest` (relative to `cwd` when given, which is
    how it then appears in Copier's messages); return the project path and Copier's stderr."""
    data = {**DEFAULT_ANSWERS, **answers, "tier": tier}
    cmd = [*copier_cmd(), "copy", "--defaults"]
    if vcs_ref:
        cmd += ["--vcs-ref", vcs_ref]
    for key, value in data.items():
        cmd += ["--data", f"{key}={value}"]
    proc = subprocess.run(
        [*cmd, str(template), str(dest)], capture_output=True, text=True, check=False, timeout=300, cwd=cwd
    )
    if proc.returncode != 0:
        raise RenderError(f"copier copy ({tier}) failed:\n{proc.stdout}\n{proc.stderr}")
    return (cwd / dest if cwd else dest), proc.stderr


def render(tier: str, dest: Path, template: Path = REPO, vcs_ref: str | None = "HEAD", **answers: str) -> Path:
    """`copier copy` the template at `tier` into `dest` with default answers otherwise."""
    return render_with_message(tier, dest, template, vcs_ref, **answers)[0]


def install(project: Path, extras: str | None = "dev") -> Path:
    """Install `project` (editable, with `extras`) into a fresh `project/.venv`; return its python.

    uv shares its download cache across projects (UV_CACHE_DIR if set), so each install after
    the first is mostly linking.
    """
    venv = project / ".venv"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [uv_bin(), "venv", "-q", "--clear", "--python", sys.executable, str(venv)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RenderError(f"uv venv failed:\n{proc.stderr}")
    python = venv / "bin" / "python"
    target = f"{project}[{extras}]" if extras else str(project)
    proc = subprocess.run(
        [uv_bin(), "pip", "install", "-q", "-p", str(python), "-e", target],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=900,
    )
    if proc.returncode != 0:
        raise RenderError(f"installing {project} failed:\n{proc.stderr}")
    return python
