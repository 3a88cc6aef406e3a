"""`copier copy` of the Advanced tier, next to a trivial one-file template, same run.

Variants, interleaved round by round (target: Advanced median <= 2 s):
  advanced         a clean clone of this checkout's HEAD (`--vcs-ref HEAD`: Copier clones it
                   again), as an owner rendering from the published repository would;
  advanced-nogit   the same files exported from HEAD into a plain folder (no clone);
  trivial          a one-question, one-file template in a fresh git repo, `--vcs-ref HEAD`.
The gap between advanced and advanced-nogit is the clone; trivial is Copier's own floor.
The template is cloned first because Copier copies uncommitted changes of a dirty local
checkout into a scratch commit, which would make the figure depend on the working tree.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import REPO, child_env, print_table, run_timed, summary, write_results

from tests.helpers.render import copier_cmd

TARGET_S = 2.0
ANSWERS = {"project_name": "notes-server", "tier": "advanced"}


def make_trivial(folder: Path) -> Path:
    folder.mkdir()
    (folder / "copier.yml").write_text("name:\n  type: str\n  default: demo\n")
    (folder / "README.md.jinja").write_text("# {{ name }}\n")
    git = ["git", "-C", str(folder), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "trivial template"]):
        subprocess.run([*git, *args], check=True)
    return folder


def clone_head(folder: Path) -> Path:
    """This checkout's HEAD as a clean git repository of its own."""
    subprocess.run(["git", "clone", "-q", str(REPO), str(folder)], check=True)
    return folder


def export_head(folder: Path) -> Path:
    """The committed template files, without .git, as a plain folder."""
    folder.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def copy_once(template: Path, dest: Path, answers: dict[str, str], vcs_ref: bool) -> tuple[float, float]:
    """Wall and CPU seconds (Copier plus the git it runs) of one copy."""
    cmd = [*copier_cmd(), "copy", "--defaults", "--quiet"]
    if vcs_ref:
        cmd += ["--vcs-ref", "HEAD"]
    for key, value in answers.items():
        cmd += ["--data", f"{key}={value}"]
    wall, cpu, proc = run_timed([*cmd, str(template), str(dest)], child_env())
    if proc.returncode != 0:
        raise SystemExit(f"copier copy {template} failed:\n{proc.stderr.decode()}")
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="measured runs per variant (>= 5)")
    opts = parser.parse_args()
    runs = max(5, opts.runs)

    with tempfile.TemporaryDirectory(prefix="bench-copier-") as tmp_name:
        tmp = Path(tmp_name)
        variants = {
            "advanced": (clone_head(tmp / "cloned"), ANSWERS, True),
            "advanced-nogit": (export_head(tmp / "exported"), ANSWERS, False),
            "trivial": (make_trivial(tmp / "trivial"), {"name": "demo"}, True),
        }
        samples: dict[str, list[float]] = {name: [] for name in variants}
        cpu_samples: dict[str, list[float]] = {name: [] for name in variants}
        names = list(variants)
        for i in range(-1, runs):  # round -1 is warm-up (file cache, bytecode)
            for name in names[i % len(names) :] + names[: i % len(names)]:
                template, answers, vcs_ref = variants[name]
                wall, cpu = copy_once(template, tmp / f"out-{name}-{i}", answers, vcs_ref)
                if i >= 0:
                    samples[name].append(wall)
                    cpu_samples[name].append(cpu)

    stats = {name: summary(values) for name, values in samples.items()}
    cpu_stats = {name: summary(values) for name, values in cpu_samples.items()}
    floor = stats["trivial"]["median"]
    print(f"\ncopier copy, {runs} interleaved runs per variant after one warm-up round (s)")
    print_table(
        ["variant", "median", "p90", "min", "vs trivial", "CPU median"],
        [
            [
                name,
                f"{s['median']:.2f}",
                f"{s['p90']:.2f}",
                f"{s['min']:.2f}",
                f"{s['median'] / floor:.2f}x",
                f"{cpu_stats[name]['median']:.2f}",
            ]
            for name, s in stats.items()
        ],
    )
    met = stats["advanced"]["median"] <= TARGET_S
    print(
        f"target median <= {TARGET_S:.0f} s for the Advanced tier: "
        f"{'MET' if met else 'MISSED'} ({stats['advanced']['median']:.2f} s)"
    )
    write_results(
        "copier_copy",
        {
            "runs": runs,
            "unit": "s",
            "target_median_s": TARGET_S,
            "target_met": met,
            "results": {name: {**s, "vs_trivial": s["median"] / floor} for name, s in stats.items()},
            "cpu_s": cpu_stats,
            "samples_s": samples,
            "cpu_samples_s": cpu_samples,
        },
    )


if __name__ == "__main__":
    sys.exit(main())
