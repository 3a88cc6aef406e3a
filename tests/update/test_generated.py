"""What a rendered project generates about itself follows the owner's domain, and the project
around the code works wherever it runs: docs and client regenerated from the table, one data
folder whatever the current directory, a store that outlives a model change, CI that finds the
checker for any template source, pre-commit hooks without an activated environment."""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers.render import install, render, run_in
from tests.update.harness import OWNER_README, env, init_repo, owner_edits, regenerate_contract

PKG = "notes_server"


def cli(project: Path, *args: str, cwd: Path | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(project / ".venv" / "bin" / "notes-server"), *args],
        cwd=cwd or project,
        env={**env(), **extra},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def cli_block(readme: str) -> list[str]:
    """The README's CLI example lines, as printed."""
    block = readme.split("CLI (add `--url", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return block.strip().splitlines()


def test_docs_and_client_follow_the_owners_table(tmp_path: Path) -> None:
    project = render("essential", tmp_path / "notes-server", vcs_ref=None)
    install(project)
    drift = run_in(project, "pytest", "-q", "-p", "no:cacheprovider", "tests/test_contract.py")
    assert drift.returncode == 0, drift.stdout

    owner_edits(project)  # adds count_notes, a README paragraph of the owner's
    drift = run_in(project, "pytest", "-q", "-p", "no:cacheprovider", "tests/test_contract.py")
    assert drift.returncode == 1 and "is stale: run python -m notes_server.interfaces.contract" in drift.stdout
    for name in ("README.md", "AGENTS.md", "docs/usage.md", f"src/{PKG}/interfaces/client.py"):
        assert name in drift.stdout, f"{name} not reported stale"

    regenerate_contract(project)
    readme = (project / "README.md").read_text()
    assert OWNER_README in readme  # outside the regions: kept
    assert "notes-server count-notes --tag home" in readme and "`count_notes`: Count the notes" in readme
    hint = "Call `list_notes` to see the slugs that exist, or `create_note` to make this one."
    assert f"| `note_not_found` | Note not found | {hint} | 404 | 3 | no |" in readme
    assert "`NOTES_SERVER_MAX_JSON_DEPTH`" in readme and "refuses to start" in readme
    assert (project / "src" / PKG / "py.typed").is_file()
    assert "`count_notes`: Count the notes" in (project / "AGENTS.md").read_text()
    assert '"name": "count_notes"' not in (project / "docs" / "usage.md").read_text()  # no MCP at Essential
    client = (project / "src" / PKG / "interfaces" / "client.py").read_text()
    assert "    def count_notes(\n        self,\n        tag: str | None = None,\n    ) -> NoteCount:" in client
    assert "    async def count_notes(" in client
    tests = run_in(project, "pytest", "-q", "-p", "no:cacheprovider")
    assert tests.returncode == 0, tests.stdout[-4000:]
    lint = run_in(project, "ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout

    # The README's CLI lines run as printed, in order, on an empty store.
    data = {"NOTES_SERVER_DATA_DIR": str(tmp_path / "readme-data")}
    lines = cli_block(readme)
    assert lines[0].startswith("notes-server create-note") and any("count-notes" in line for line in lines)
    for line in lines:
        words = shlex.split(line)
        proc = cli(project, *words[1:], **data)
        assert proc.returncode == 0, f"{line}\n{proc.stdout}{proc.stderr}"


def test_one_data_folder_whatever_the_directory_and_a_model_gaining_a_field(tmp_path: Path) -> None:
    project = render("essential", tmp_path / "notes-server", vcs_ref=None)
    install(project)
    home = {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    (tmp_path / "elsewhere" / "deeper").mkdir(parents=True)
    made = cli(
        project, "create-note", "--slug", "groceries", "--title", "Groceries", cwd=tmp_path / "elsewhere", **home
    )
    assert made.returncode == 0, made.stderr
    seen = cli(project, "get-note", "groceries", "--json", cwd=tmp_path / "elsewhere" / "deeper", **home)
    assert seen.returncode == 0, seen.stderr  # another directory, the same store
    assert list((tmp_path / "xdg").glob("notes-server/*"))
    assert not any((tmp_path / "elsewhere").rglob("*.sqlite3"))

    # The owner adds an optional field to the stored model: the existing store keeps working.
    models = project / "src" / PKG / "domain" / "models.py"
    text = models.read_text()
    models.write_text(
        text.replace("    version: int = Field(", "    pinned: bool = False\n    version: int = Field(", 1)
    )
    for args in (["get-note", "groceries"], ["list-notes"], ["update-note", "groceries", "--title", "Food"]):
        proc = cli(project, *args, "--json", **home)
        assert proc.returncode == 0, f"{args}: {proc.stdout}{proc.stderr}"
        assert '"pinned": false' in proc.stdout

    # A change that needs a migration: one step appended to MIGRATIONS runs once on the old store.
    repository = project / "src" / PKG / "domain" / "repository.py"
    text = repository.read_text()
    step = '    "ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0",\n)\n\n\nclass SqliteNoteRepository'
    assert text.count(")\n\n\nclass SqliteNoteRepository") == 1
    repository.write_text(text.replace(")\n\n\nclass SqliteNoteRepository", step, 1))
    proc = cli(project, "get-note", "groceries", "--json", **home)
    assert proc.returncode == 0 and '"title": "Food"' in proc.stdout, proc.stderr
    (store,) = (tmp_path / "xdg").glob("notes-server/*.sqlite3")
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert conn.execute("SELECT slug, pinned FROM notes").fetchall() == [("groceries", 0)]
    tests = run_in(project, "pytest", "-q", "-p", "no:cacheprovider", "tests/test_store.py", "tests/test_parity.py")
    assert tests.returncode == 0, tests.stdout[-4000:]


def _compliance_script(project: Path) -> str:
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    (step,) = [s for s in workflow["jobs"]["test"]["steps"] if str(s.get("name", "")).startswith("Compliance")]
    return step["run"]


def test_ci_installs_the_checker_from_a_source_that_works_for_every_template_source(tmp_path: Path) -> None:
    project = render("essential", tmp_path / "notes-server", vcs_ref=None)
    script = _compliance_script(project)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "uvx").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$UVX_ARGS"\n')
    (bindir / "uvx").chmod(0o755)
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").symlink_to(sys.executable)
    answers = project / ".copier-answers.yml"
    original = answers.read_text()
    pyproject = project / "pyproject.toml"
    assert 'checker = "auto"' in pyproject.read_text()

    def installed_from(src: str, commit: str, checker: str | None = None) -> str:
        text = re.sub(r"(?m)^_src_path: .*$", f"_src_path: {src}", original)
        answers.write_text(re.sub(r"(?m)^_commit: .*$", f"_commit: {commit}", text))
        if checker is not None:
            pyproject.write_text(re.sub(r'(?m)^checker = ".*"$', f'checker = "{checker}"', pyproject.read_text()))
        out = tmp_path / "uvx-args"
        run_env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "UVX_ARGS": str(out)}
        run_env["GITHUB_STEP_SUMMARY"] = str(tmp_path / "summary.md")
        proc = subprocess.run(["bash", "-e", "-c", script], cwd=project, env=run_env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        args = out.read_text().splitlines()
        assert args[0] == "--from" and args[2:4] == ["chora-base", "check"], args
        return args[1]

    assert installed_from("gh:acme/chora-base", "v1.2.0") == "git+https://github.com/acme/chora-base@v1.2.0"
    assert installed_from("https://example.org/t/chora-base.git", "v1.2.0-3-gabc1234") == (
        "git+https://example.org/t/chora-base.git@abc1234"
    )
    assert installed_from("../..", "v1.2.0") == "chora-base"  # a local path: the published package
    assert installed_from("/srv/templates/chora-base", "v1.2.0") == "chora-base"
    assert installed_from("../..", "v1.2.0", checker="../..") == "../.."  # set in pyproject.toml


def test_pre_commit_hooks_run_without_an_activated_environment(tmp_path: Path) -> None:
    project = render("recommended", tmp_path / "notes-server", vcs_ref=None)
    install(project)
    init_repo(project)
    bare_path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if ".venv" not in p)
    run_env = {**env(), "PATH": bare_path, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache")}
    run_env.pop("VIRTUAL_ENV", None)

    def hooks() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(project / ".venv" / "bin" / "pre-commit"), "run", "--all-files"],
            cwd=project,
            env=run_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )

    proc = hooks()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    notes = project / "NOTES.txt"
    notes.write_text("kept\n<<<<<<< before updating\nmine\n=======\ntheirs\n>>>>>>> after updating\n")
    subprocess.run(["git", "add", "NOTES.txt"], cwd=project, check=True, env=env())
    proc = hooks()
    assert proc.returncode == 1 and "NOTES.txt" in proc.stdout, proc.stdout
    assert re.search(r"no conflict markers.*Failed", proc.stdout), proc.stdout
