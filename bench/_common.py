"""Shared pieces of the benchmark scripts: a rendered project, timing statistics, results files.

Every script renders the template with the repository's own test helpers (real Copier, real uv)
so the figures describe exactly what `copier copy` gives an owner.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.helpers.render import install, render  # noqa: E402

PACKAGE = "notes_server"
CLI = "notes-server"
DATA_ENV = "NOTES_SERVER_DATA_DIR"


def child_env(**extra: str) -> dict[str, str]:
    """The environment for measured programs: an owner's shell, not the test runner's.

    PYTHONDONTWRITEBYTECODE is dropped so bytecode caches behave as on a developer machine
    (compiled once, reused), and no outer virtualenv or PYTHONPATH leaks in.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}
        and not k.startswith(("NOTES_SERVER_", "PYTEST"))
    }
    env.update(extra)
    return env


def advanced_project(workdir: Path, vcs_ref: str | None = "HEAD") -> tuple[Path, Path]:
    """Render and install the Advanced tier into `workdir`; return (project, venv python).

    `vcs_ref` picks the template's commit (None: the working tree), e.g. to measure a change.

    The venv is byte-compiled once, as `pip install` (or `uv pip install --compile-bytecode`)
    would leave it, so the first measured run does not pay for compiling every module.
    """
    project = render("advanced", workdir / "notes-server", vcs_ref=vcs_ref)
    python = install(project)
    subprocess.run(
        [str(python), "-m", "compileall", "-q", "-j", "0", str(project / ".venv" / "lib"), str(project / "src")],
        check=True,
        env=child_env(),
        stdout=subprocess.DEVNULL,
    )
    return project, python


def run_timed(
    argv: Sequence[str],
    env: dict[str, str],
    timeout: float = 300,
) -> tuple[float, float, subprocess.CompletedProcess[bytes]]:
    """Run a program to completion; return (wall s, CPU s of it and its children, result).

    CPU time (user + system, from the kernel's accounting of waited-for children) is reported
    beside wall time because on a shared machine wall time mostly measures other people's load.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(list(argv), env=env, capture_output=True, check=False, timeout=timeout)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "p90": percentile(values, 90),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def machine() -> dict[str, Any]:
    """What the figures were measured on, including how busy the machine was."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {"benchmark": name, "machine": machine(), **data}
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    print(f"\nwrote {path.relative_to(REPO)}")
    return path


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


#: How many notes the wrk benches seed into the Advanced render's store before measuring.
SEED_NOTES = 100
#: A script for the render's own python that seeds ``SEED_NOTES`` notes through the service.
SEED = f"""
from {PACKAGE}.core.settings import get_settings
from {PACKAGE}.domain.service import Service

service = Service.from_settings(get_settings())
for i in range({SEED_NOTES}):
    service.create_note(slug=f"note-{{i}}", title=f"Note {{i}}", body="lorem ipsum " * 20,
                        tags=["bench", f"t{{i % 5}}"])
"""


def require_wrk() -> str:
    """The wrk load generator (it runs in its own process, so it never measures itself)."""
    import shutil

    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: `apt-get install wrk` (Debian/Ubuntu), then run this again")
    return wrk


def add_wrk_options(parser: Any, rounds_help: str) -> None:
    """The options every wrk bench that renders the Advanced tier takes."""
    parser.add_argument("--rounds", type=int, default=4, help=rounds_help)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--vcs-ref", default="HEAD", help="template commit to render; '' for the working tree")


def stop(proc: Any) -> None:
    """Terminate a server process, killing it if it does not leave within 10 s."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
