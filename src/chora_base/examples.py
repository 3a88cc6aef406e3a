"""Keep the projects under ``examples/`` current with the template, and detect drift.

``main()`` runs ``copier update`` on every example (a folder holding ``.copier-answers.yml``)
against the working tree's template, so an example takes template changes the way any owner
would: a three-way merge that keeps the example's own domain code. When the example's recorded
template commit cannot be found (for instance it was rendered from uncommitted template
changes), a three-way merge is impossible and the example is re-copied instead: template files
are rewritten, owner-owned files (``_skip_if_exists``) are left alone.

``check()`` renders the template afresh with each example's recorded answers and compares the
result with the example, ignoring the files the owner owns: any other difference is drift.

Run ``python -m chora_base.examples`` to update, ``python -m chora_base.examples --check`` to
report drift (exit 1 when there is some). Copier must be installed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
ANSWERS = ".copier-answers.yml"


def example_dirs(root: Path = EXAMPLES) -> list[Path]:
    """Every project under ``root`` made by Copier (it has an answers file)."""
    return sorted(p.parent for p in root.glob(f"*/{ANSWERS}"))


def recorded_answers(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / ANSWERS).read_text()) or {}


def owner_owned(template: Path, answers: dict[str, Any]) -> Any:
    """A matcher (``.match_file(relpath)``) for the template's ``_skip_if_exists`` paths."""
    import jinja2
    import pathspec

    config = yaml.safe_load((template / "copier.yml").read_text()) or {}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    patterns = [env.from_string(p).render(**answers) for p in config.get("_skip_if_exists", [])]
    return pathspec.GitIgnoreSpec.from_lines(patterns)


def render_fresh(project: Path, dest: Path, template: Path = REPO, vcs_ref: str = "HEAD") -> Path:
    """Render ``template`` into ``dest`` with the answers ``project`` recorded."""
    from copier import run_copy

    data = {k: v for k, v in recorded_answers(project).items() if not k.startswith("_")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DirtyLocalWarning: the working tree is the point
        run_copy(
            str(template), dest, data=data, defaults=True, quiet=True, vcs_ref=vcs_ref, overwrite=True, unsafe=False
        )
    return dest


def _without_declared_peers(text: str) -> str:
    """``pyproject.toml`` less the ``dependencies`` line of ``[tool.chora-base]``: the owner
    declares the peers the server calls there (the template renders it commented out), so a
    declaration is the owner's edit, not drift."""
    kept, table = [], ""
    for line in text.splitlines(keepends=True):
        if line.startswith("["):
            table = line.strip()
        elif table == "[tool.chora-base]" and line.lstrip("# ").startswith("dependencies = ["):
            continue
        kept.append(line)
    return "".join(kept)


def drift(project: Path, template: Path = REPO, vcs_ref: str = "HEAD") -> list[str]:
    """How ``project`` differs from a fresh rendering, owner-owned files aside.

    Files the example adds of its own are not drift; template files that are missing or
    whose content differs are.
    """
    answers = {k: v for k, v in recorded_answers(project).items() if not k.startswith("_")}
    owned = owner_owned(template, answers)
    found: list[str] = []
    with tempfile.TemporaryDirectory(prefix="chora-examples-") as tmp:
        fresh = render_fresh(project, Path(tmp) / project.name, template, vcs_ref)
        for path in sorted(p for p in fresh.rglob("*") if p.is_file()):
            rel = path.relative_to(fresh).as_posix()
            if rel == ANSWERS or owned.match_file(rel):
                continue
            mine = project / rel
            if not mine.is_file():
                found.append(f"missing: {rel}")
            elif mine.read_bytes() != path.read_bytes():
                if rel == "pyproject.toml" and _without_declared_peers(mine.read_text()) == _without_declared_peers(
                    path.read_text()
                ):
                    continue
                found.append(f"differs: {rel}")
    return found


def check(root: Path = EXAMPLES, template: Path = REPO, vcs_ref: str = "HEAD") -> dict[str, list[str]]:
    """Drift of every example under ``root``: ``{example name: [problems]}``, empty if none."""
    report = {p.name: drift(p, template, vcs_ref) for p in example_dirs(root)}
    return {name: problems for name, problems in report.items() if problems}


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def _recorded_commit_exists(project: Path) -> bool:
    answers = recorded_answers(project)
    src, commit = answers.get("_src_path"), answers.get("_commit")
    if not src or not commit:
        return False
    source = Path(src) if Path(src).is_absolute() else (project / src)
    if not source.is_dir():
        return True  # a remote template: let Copier fetch and judge
    return _git(source, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}").returncode == 0


def update_example(project: Path, vcs_ref: str = "HEAD") -> subprocess.CompletedProcess[str]:
    """``copier update`` one example to ``vcs_ref`` of its template (re-copy if impossible)."""
    status = _git(project, "status", "--porcelain", "--", ".")
    if status.returncode != 0 or status.stdout.strip():
        return subprocess.CompletedProcess(
            [], 1, "", f"{project} has uncommitted changes (or is not in git); commit first\n"
        )
    copier = [sys.executable, "-m", "copier"]
    if _recorded_commit_exists(project):
        cmd = [*copier, "update", "--defaults", "--quiet", "--vcs-ref", vcs_ref]
        # Relative `_src_path` answers resolve from the example's own folder.
        return subprocess.run(cmd, cwd=project, capture_output=True, text=True, check=False)
    cmd = [*copier, "recopy", "--defaults", "--overwrite", "--quiet", "--vcs-ref", vcs_ref]
    owned = owner_owned(REPO, {k: v for k, v in recorded_answers(project).items() if not k.startswith("_")})
    before = {p for p in project.rglob("*") if p.is_file()}
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True, check=False)
    # A re-copy is a copy: it would bring back an example-domain file the owner deleted.
    for path in {p for p in project.rglob("*") if p.is_file()} - before:
        if owned.match_file(path.relative_to(project).as_posix()):
            path.unlink()
    return proc


def _unmerged(project: Path) -> list[str]:
    """Files an update left unmerged (Copier exits 0 even then)."""
    names = _git(project, "diff", "--name-only", "--diff-filter=U", "--", ".").stdout.split()
    return sorted({*names, *(p.relative_to(project).as_posix() for p in project.rglob("*.rej"))})


def update_all(root: Path = EXAMPLES, vcs_ref: str = "HEAD") -> int:
    # Pin the commit: once the first example is updated the repository is dirty, and Copier
    # renders a dirty local HEAD from a throw-away commit that the next examples would record.
    pinned = _git(REPO, "rev-parse", "--verify", f"{vcs_ref}^{{commit}}")
    vcs_ref = pinned.stdout.strip() if pinned.returncode == 0 else vcs_ref
    failures = 0
    for project in example_dirs(root):
        proc = update_example(project, vcs_ref)
        verb = "re-copied" if "recopy" in proc.args else "updated"
        left = _unmerged(project) if proc.returncode == 0 else []
        if proc.returncode == 0 and not left:
            print(f"{project.name}: {verb}")
        elif left:
            failures += 1
            print(f"{project.name}: {verb} with conflicts to resolve: {', '.join(left)}", file=sys.stderr)
        else:
            failures += 1
            print(f"{project.name}: FAILED\n{proc.stdout}{proc.stderr}", file=sys.stderr)
    if failures == 0:
        print(
            "Review with `git diff examples/`; where the contract changed, regenerate it in the "
            "example (`python -m <package>.interfaces.contract`) and commit."
        )
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chora_base.examples", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="report drift from the template instead of updating")
    parser.add_argument("--root", type=Path, default=EXAMPLES, help="folder of examples")
    args = parser.parse_args(argv)
    if not args.check:
        return update_all(args.root)
    report = check(args.root)
    for name, problems in report.items():
        print(f"{name}: drifted from the template\n  " + "\n  ".join(problems))
    if not report:
        print("examples match the template")
    return 1 if report else 0


if __name__ == "__main__":
    raise SystemExit(main())
