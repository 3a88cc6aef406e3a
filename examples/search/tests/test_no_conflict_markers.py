"""No file holds what a merge left unresolved. `copier update` exits 0 even when it leaves
conflict markers (or `*.rej` files with `--conflict rej`), so this test is what fails instead.
Template-owned: upgrade with `copier update`."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".git", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__", ".ruff_cache", ".pytest_cache"}
MARKER = re.compile(rb"^(?:<{7}|>{7})(?: |$)", re.MULTILINE)  # spelled as a pattern, so not itself a marker


def project_files() -> list[Path]:
    """Tracked and untracked, not ignored, files (every file outside tool folders without git)."""
    proc = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if proc.returncode == 0:
        return [ROOT / name for name in proc.stdout.decode().split("\0") if name]
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP]
        found += [Path(folder) / name for name in files]
    return found


def test_no_conflict_markers_or_rejected_hunks() -> None:
    left = []
    for path in project_files():
        if not path.is_file():
            continue
        if path.suffix == ".rej":
            left.append(f"{path.relative_to(ROOT)}: rejected hunks")
        elif MARKER.search(path.read_bytes()):
            left.append(f"{path.relative_to(ROOT)}: conflict markers")
    assert not left, "resolve what the merge left (see UPGRADING.md):\n" + "\n".join(left)
