"""Render the template and install a rendered project, for the docs generator.

Rendering uses the working tree of this repository (``--vcs-ref HEAD``; Copier includes
uncommitted template changes), so the docs always describe the template as it is now.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PROJECT_NAME = "notes-server"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FILE_OP = re.compile(r"^\s*(create|conflict|identical|overwrite|skip|force|delete)\s+\S")


def render(tier: str, parent: Path, **answers: str) -> tuple[Path, str]:
    """Render a project named ``notes-server`` under ``parent``; return its path and the
    message Copier printed after copying."""
    data = {"project_name": PROJECT_NAME, "tier": tier, **answers}
    args = [sys.executable, "-m", "copier", "copy", "--defaults", "--vcs-ref", "HEAD"]
    for key, value in data.items():
        args += ["--data", f"{key}={value}"]
    dest = parent / PROJECT_NAME
    args += [str(REPO), PROJECT_NAME]
    proc = subprocess.run(args, cwd=parent, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"copier copy failed ({proc.returncode}):\n{proc.stderr}")
    lines = _ANSI.sub("", proc.stderr).splitlines()
    last_op = max((i for i, line in enumerate(lines) if _FILE_OP.match(line)), default=-1)
    message = "\n".join(lines[last_op + 1 :]).strip("\n")
    return dest, message


def uv() -> str:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except ImportError:
        pass
    found = shutil.which("uv")
    if found:
        return found
    candidate = Path(sys.executable).with_name("uv")
    if candidate.exists():
        return str(candidate)
    raise RuntimeError("uv is needed to install a rendered project (pip install uv)")


def install(project: Path) -> Path:
    """Install ``project`` (editable) into ``project/.venv``; return that venv's bin folder."""
    venv = project / ".venv"
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    subprocess.run([uv(), "venv", "-q", "--python", sys.executable, str(venv)],
                   check=True, env=env, capture_output=True)
    proc = subprocess.run([uv(), "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                           "-e", str(project)], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"installing {project} failed:\n{proc.stderr}")
    return venv / "bin"
