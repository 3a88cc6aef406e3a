"""Render and install helpers for the tests (the implementation lives in `chora_base.render`)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from chora_base.render import REPO, TIERS, copier_cmd, install, render, uv_bin

__all__ = ["REPO", "TIERS", "copier_cmd", "install", "render", "run_in", "uv_bin"]


def run_in(project: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run a program from the project's own environment, in the project folder."""
    program = project / ".venv" / "bin" / args[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [str(program), *args[1:]], cwd=project, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
