"""How long `copier update` takes on a typical Recommended project -- target <= 10 s.

Builds a template repository from this working tree tagged v0.1.0 and v0.2.0 (the same one the
update tests use), renders a Recommended project at v0.1.0, makes an owner's usual edits and
commits them, then times `copier update --defaults --vcs-ref v0.2.0` (reset between runs).
The baseline, measured in the same run on the same machine, is `copier copy` of the same
project: an update renders the template three times (old version, new version, merge target),
so about three copies is what to expect.

Wall time depends on what else the machine is doing, so the CPU time of Copier and the git
processes it runs is reported too, with the load average at the start.

Figures go to stdout and bench/results/update_speed.json.
Run: python bench/update_speed.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.update.harness import (  # noqa: E402
    NEW,
    OLD,
    commit_all,
    env,
    git,
    init_repo,
    make_template_repo,
    owner_edits,
)

TARGET_S = 10.0
RESULTS = ROOT / "bench" / "results" / "update_speed.json"


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Run `cmd`; return (wall seconds, CPU seconds of it and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def copier(*args: str) -> list[str]:
    return [sys.executable, "-m", "copier", *args]


def summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    walls, cpus = [w for w, _ in samples], [c for _, c in samples]
    return {
        "wall_median_s": round(statistics.median(walls), 2),
        "wall_min_s": round(min(walls), 2),
        "wall_max_s": round(max(walls), 2),
        "cpu_median_s": round(statistics.median(cpus), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="update-bench-") as tmp:
        work = Path(tmp)
        template = make_template_repo(work / "template")
        data = ["--data", "project_name=notes-server", "--data", "tier=recommended"]
        copies = [
            timed(
                copier(
                    "copy", "--defaults", "--quiet", "--vcs-ref", OLD, *data, str(template), str(work / f"copy-{i}")
                ),
                work,
            )
            for i in range(args.runs)
        ]
        project = work / "copy-0"
        init_repo(project)
        owner_edits(project)
        commit_all(project, "Owner work")
        owner_head = git(project, "rev-parse", "HEAD").strip()
        updates = []
        for _ in range(args.runs):
            git(project, "reset", "-q", "--hard", owner_head)
            git(project, "clean", "-q", "-fdx")
            updates.append(timed(copier("update", "--defaults", "--quiet", "--vcs-ref", NEW), project))
        files = len(git(project, "ls-files").splitlines())
    result = {
        "what": "copier update of a Recommended project with owner edits, v0.1.0 -> v0.2.0",
        "target_wall_s": TARGET_S,
        "runs": args.runs,
        "project_files": files,
        "update": summary(updates),
        "baseline_copy": summary(copies),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1min_at_start": round(load, 2),
            "python": platform.python_version(),
        },
    }
    result["update_over_copy"] = round(result["update"]["wall_median_s"] / result["baseline_copy"]["wall_median_s"], 2)
    result["met"] = result["update"]["wall_median_s"] <= TARGET_S
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    up, cp = result["update"], result["baseline_copy"]
    print(
        f"copier update (Recommended, {files} files): median {up['wall_median_s']} s wall "
        f"[{up['wall_min_s']}-{up['wall_max_s']}], {up['cpu_median_s']} s CPU  "
        f"(target <= {TARGET_S} s: {'met' if result['met'] else 'NOT met'})"
    )
    print(
        f"baseline copier copy:  median {cp['wall_median_s']} s wall, {cp['cpu_median_s']} s "
        f"CPU; update/copy = {result['update_over_copy']}"
    )
    print(f"load average at start: {load:.2f} on {os.cpu_count()} CPUs; wrote {RESULTS}")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
