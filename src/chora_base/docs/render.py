"""Render the template and install a rendered project, for the docs generator.

Rendering uses the working tree of this repository (``--vcs-ref HEAD``; Copier includes
uncommitted template changes), so the docs always describe the template as it is now.
"""

from __future__ import annotations

import re
from pathlib import Path

from chora_base.render import install as shared_install
from chora_base.render import render_with_message

PROJECT_NAME = "notes-server"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FILE_OP = re.compile(r"^\s*(create|conflict|identical|overwrite|skip|force|delete)\s+\S")


def render(tier: str, parent: Path, **answers: str) -> tuple[Path, str]:
    """Render a project named ``notes-server`` under ``parent``; return its path and the
    message Copier printed after copying."""
    dest, stderr = render_with_message(tier, Path(PROJECT_NAME), cwd=parent, **answers)
    lines = _ANSI.sub("", stderr).splitlines()
    last_op = max((i for i, line in enumerate(lines) if _FILE_OP.match(line)), default=-1)
    return dest, "\n".join(lines[last_op + 1 :]).strip("\n")


def install(project: Path) -> Path:
    """Install ``project`` (editable) into ``project/.venv``; return that venv's bin folder."""
    return shared_install(project, extras=None).parent
