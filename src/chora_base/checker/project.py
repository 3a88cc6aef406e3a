"""What the checker knows about a project from its files alone (no code is run here)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chora_base.checker.catalog import TIERS, Tier

ANSWERS_FILE = ".copier-answers.yml"

# The template wires its console script to this adapter; finding it in
# [project.scripts] tells us the package and CLI names of repositories that
# lost (or never had) their answers file.
_CLI_TARGET = re.compile(r"^(?P<pkg>[A-Za-z_][\w]*)\.interfaces\.cli:(?P<func>\w+)$")


@dataclass
class ProjectInfo:
    """Static facts about the repository under check."""

    root: Path
    answers: dict[str, Any] = field(default_factory=dict)
    answers_error: str | None = None
    pyproject: dict[str, Any] = field(default_factory=dict)
    pyproject_error: str | None = None
    package: str | None = None
    cli_name: str | None = None
    cli_entry: str | None = None  # "pkg.interfaces.cli:main"

    @property
    def declared_tier(self) -> Tier | None:
        tier = self.answers.get("tier")
        return tier if tier in TIERS else None

    @property
    def src_dir(self) -> Path:
        src = self.root / "src"
        return src if src.is_dir() else self.root

    @property
    def package_dir(self) -> Path | None:
        if not self.package:
            return None
        path = self.src_dir / self.package
        return path if path.is_dir() else None

    @property
    def env_prefix(self) -> str:
        return f"{(self.package or 'APP').upper()}_"

    def read_text(self, relpath: str) -> str | None:
        path = self.root / relpath
        try:
            return path.read_text(encoding="utf-8") if path.is_file() else None
        except (OSError, UnicodeDecodeError):
            return None

    def python_sources(self) -> list[Path]:
        base = self.package_dir or self.src_dir
        if base == self.root and not (self.root / "pyproject.toml").is_file():
            # Not a Python project: scanning an arbitrary tree would be slow and meaningless.
            return []
        skip = {".venv", "venv", ".git", ".nox", ".tox", "node_modules", "__pycache__", "build"}
        return sorted(p for p in base.rglob("*.py") if not skip.intersection(p.relative_to(base).parts))


def load_project(root: Path) -> ProjectInfo:
    """Read answers and pyproject and work out package and CLI names; never raises."""
    info = ProjectInfo(root=root.resolve())
    answers_path = info.root / ANSWERS_FILE
    if answers_path.is_file():
        try:
            loaded = yaml.safe_load(answers_path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                info.answers = loaded
            else:
                info.answers_error = f"{ANSWERS_FILE} is not a mapping"
        except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
            info.answers_error = f"{ANSWERS_FILE} cannot be read: {exc}"

    pyproject_path = info.root / "pyproject.toml"
    if pyproject_path.is_file():
        try:
            info.pyproject = tomllib.loads(pyproject_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
            info.pyproject_error = f"pyproject.toml cannot be parsed: {exc}"

    scripts = info.pyproject.get("project", {}).get("scripts", {})
    scripts = scripts if isinstance(scripts, dict) else {}
    for name, target in scripts.items():
        match = _CLI_TARGET.match(str(target).strip())
        if match:
            info.cli_name, info.cli_entry = str(name), str(target).strip()
            info.package = match["pkg"]
            break

    answered_pkg = info.answers.get("package_name")
    if isinstance(answered_pkg, str) and answered_pkg.isidentifier():
        info.package = answered_pkg
    answered_cli = info.answers.get("cli_name")
    if isinstance(answered_cli, str) and answered_cli:
        info.cli_name = answered_cli
    if info.package and not info.cli_entry:
        info.cli_entry = f"{info.package}.interfaces.cli:main"

    if info.package is None:
        # Last resort: a src/ package with an operation table looks like one of ours.
        src = info.src_dir
        candidates = sorted(p.parent.name for p in src.glob("*/operations.py"))
        if src != info.root and candidates:
            info.package = candidates[0]
            info.cli_entry = f"{info.package}.interfaces.cli:main"
    return info
