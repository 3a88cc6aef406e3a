"""Phase 0: `python3 bootstrap.py stack.yaml` from nothing (no orchestrator installed) to a
stack that is up, and `reset` back to nothing, the runtime environment included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from chora_base.render import render, uv_bin
from tests.bootstrap.harness import ORCHESTRATOR, REGISTRY, alive, listening

BOOTSTRAP = ORCHESTRATOR / "bootstrap.py"


def _bootstrap(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "ORCHESTRATOR_", "VIRTUAL_ENV"))}
    env["PATH"] = f"{Path(uv_bin()).parent}{os.pathsep}{env.get('PATH', '')}"  # uv on PATH: the fast path
    return subprocess.run(
        [sys.executable, str(BOOTSTRAP), "stack.yaml", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_bootstrap_from_nothing_to_up_and_back_to_nothing(tmp_path: Path) -> None:
    render("essential", tmp_path / "alpha", project_name="alpha")
    (tmp_path / "stack.yaml").write_text(
        f"name: boot\nregistry:\n  source: {REGISTRY}\nservers:\n  alpha:\n    source: ./alpha\n"
    )
    before = sorted(p.name for p in tmp_path.iterdir())

    up = _bootstrap(tmp_path)
    assert up.returncode == 0, up.stderr + up.stdout
    assert "applied:" in up.stdout

    status = _bootstrap(tmp_path, "status", "--json")
    assert status.returncode == 0, status.stderr
    rows = json.loads(status.stdout.strip().splitlines()[-1])["servers"]
    assert [(r["server"], r["health"], r["registry"]) for r in rows] == [
        ("registry", "ready", "up"),
        ("alpha", "ready", "up"),
    ]

    again = _bootstrap(tmp_path)  # Phase 1 is reused, Phase 2-3 converged
    assert again.returncode == 0 and "converged" in again.stdout and "installing" not in again.stderr

    reset = _bootstrap(tmp_path, "reset")
    assert reset.returncode == 0, reset.stderr
    assert not any(alive(r["pid"]) for r in rows)
    assert not any(listening(int(r["url"].rsplit(":", 1)[1])) for r in rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
