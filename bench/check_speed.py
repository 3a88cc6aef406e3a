"""Speed of `chora-base check` on a rendered Advanced project, next to its floor.

A full check imports the project with its web and MCP stacks (behaviour checks run inside
the project), so the honest baseline is that import, measured in the same run:

- `python -c pass` in the project's venv (interpreter start-up);
- `python -c "import <pkg>.interfaces.rest, <pkg>.interfaces.mcp"` (the unavoidable floor);
- `chora-base check --select TP,RG` (static checks only: no project code runs);
- `chora-base check` (everything), the figure held to the target: median <= 5 s.

Warm-up runs first, then interleaved rounds so machine drift hits every command alike.
The probe's own per-section timings from the last full run are printed as well.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import PACKAGE, REPO, advanced_project, child_env, print_table, summary, write_results

TARGET_S = 5.0


def commands(project: Path, python: Path) -> dict[str, list[str]]:
    check = [sys.executable, "-m", "chora_base.cli", "check", str(project), "--format", "json"]
    return {
        "python -c pass": [str(python), "-c", "pass"],
        "import rest+mcp (floor)": [str(python), "-c", f"import {PACKAGE}.interfaces.rest, {PACKAGE}.interfaces.mcp"],
        "check --select TP,RG (static)": [*check, "--select", "TP,RG"],
        "check (full)": check,
    }


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=300)
    elapsed = time.perf_counter() - started
    # The check exits 0 on a fresh Advanced render; anything else is a broken benchmark.
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        project, python = advanced_project(Path(tmp))
        env = child_env()
        # The checker runs from this repository's source, as CI runs it from the template's.
        env["PYTHONPATH"] = str(REPO / "src")
        cmds = commands(project, python)
        for argv in cmds.values():  # warm-up: bytecode caches, page cache
            run_once(argv, env)
        samples: dict[str, list[float]] = {name: [] for name in cmds}
        last_full = ""
        for _ in range(args.rounds):
            for name, argv in cmds.items():
                seconds, out = run_once(argv, env)
                samples[name].append(seconds)
                if name == "check (full)":
                    last_full = out

    stats = {name: summary(values) for name, values in samples.items()}
    floor = stats["import rest+mcp (floor)"]["median"]
    full = stats["check (full)"]["median"]
    rows = [
        [name, f"{s['median']:.2f}", f"{s['p90']:.2f}", f"{s['min']:.2f}", f"{s['median'] / floor:.2f}x"]
        for name, s in stats.items()
    ]
    print(
        f"chora-base check on a rendered Advanced project ({args.rounds} rounds, "
        f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)\n"
    )
    print_table(["command", "median s", "p90 s", "min s", "vs floor"], rows)

    report = json.loads(last_full)
    probe_timings: dict[str, float] = report.get("probe_timings", {})
    print("\nprobe sections of the last full run (s): " + ", ".join(f"{k} {v:.2f}" for k, v in probe_timings.items()))
    met = full <= TARGET_S
    print(
        f"\nfull check median {full:.2f} s; target <= {TARGET_S:.1f} s: "
        f"{'MET' if met else 'NOT MET'}; {full / floor:.2f}x the project's own stack import"
    )
    write_results(
        "check_speed",
        {
            "target_seconds": TARGET_S,
            "target_met": met,
            "full_median_seconds": round(full, 3),
            "ratio_full_to_floor": round(full / floor, 3),
            "achieved_tier": report["achieved_tier"],
            "checks": len(report["checks"]),
            "probe_timings": probe_timings,
            "commands": {
                name: {k: round(v, 3) if isinstance(v, float) else v for k, v in s.items()} for name, s in stats.items()
            },
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
