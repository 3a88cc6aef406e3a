"""Real git and real Copier for the update tests (and the update benchmark).

`make_template_repo` builds a throw-away template repository from this working tree, tagged
twice (`v0.1.0`, then a template change, then `v0.2.0`), so the tests never depend on this
repository's own history or tags. `owner_edits` makes the changes an owner typically makes;
`assert_clean_merge` fails on anything an update left unmerged, whatever Copier's exit code.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OLD, NEW = "v0.1.0", "v0.2.0"

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Owner",
    "GIT_AUTHOR_EMAIL": "owner@example.com",
    "GIT_COMMITTER_NAME": "Template Owner",
    "GIT_COMMITTER_EMAIL": "owner@example.com",
}

# What the template's v0.2.0 changes, applied to the v0.1.0 tree by `make_template_repo`:
# (file under template/, text before, text after). Each "before" must exist, so the test
# notices when the template moves on instead of silently testing nothing.
README_TEST_LINE = ".venv/bin/pytest && .venv/bin/ruff check . && .venv/bin/ruff format --check ."
README_TEST_LINE_V2 = README_TEST_LINE.replace(".venv/bin/pytest ", ".venv/bin/pytest -q ")
UPDATE_SECTION = "## Update\n\nTake a newer template release with `copier update --defaults`.\n"
ABOUT_V2 = 'TEMPLATE_RELEASE = "0.2.0"\n'
NEW_FILE = "src/{{package_name}}/core/template_release.py"
NEW_FILE_TEXT = '"""Template release this project was last updated to."""\n\nRELEASE = "0.2.0"\n'
V2_EDITS = (
    ("README.md.jinja", README_TEST_LINE + "\n```\n", README_TEST_LINE_V2 + "\n```\n\n" + UPDATE_SECTION),
    ("src/{{package_name}}/core/about.py.jinja", "# noqa: E501\n", "# noqa: E501\n" + ABOUT_V2),
)

# The owner's README paragraph, the line an owner changes in the conflicting case.
OWNER_README = "Run by the platform team; ask in #notes before changing the operation table."
OWNER_TEST_LINE = README_TEST_LINE.replace(".venv/bin/pytest ", ".venv/bin/pytest -x ")
CONFLICT_CODES = {"DD", "AU", "UD", "UA", "DU", "AA", "UU"}
MARKER = re.compile(rb"^(<{7}|>{7})( |$)", re.MULTILINE)


def env() -> dict[str, str]:
    """Environment for git and Copier: a fixed identity, no pytest variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    base.pop("VIRTUAL_ENV", None)
    return {**base, **GIT_IDENTITY, "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env(), check=False, timeout=120)
    assert proc.returncode == 0, f"git {' '.join(args)} failed in {cwd}:\n{proc.stderr}"
    return proc.stdout


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-gpg-sign", "--no-verify", "-m", message)


def init_repo(path: Path, message: str = "Initial commit") -> Path:
    git(path, "init", "-q", "-b", "main")
    commit_all(path, message)
    return path


def make_template_repo(dest: Path) -> Path:
    """A git repo holding this working tree's template, tagged v0.1.0 and v0.2.0."""
    dest.mkdir(parents=True)
    shutil.copy2(REPO / "copier.yml", dest / "copier.yml")
    shutil.copytree(REPO / "template", dest / "template", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    init_repo(dest, "Template release 0.1.0")
    git(dest, "tag", OLD)
    for name, before, after in V2_EDITS:
        path = dest / "template" / name
        text = path.read_text()
        assert text.count(before) == 1, f"template/{name} no longer holds {before!r}"
        path.write_text(text.replace(before, after))
    new_file = dest / "template" / NEW_FILE
    new_file.write_text(NEW_FILE_TEXT)
    commit_all(dest, "Template release 0.2.0")
    git(dest, "tag", NEW)
    return dest


def copier(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "copier", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env(),
        check=False,
        timeout=600,
    )


def update(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`copier update --defaults ARGS` in `project` (Copier's default conflict mode: inline)."""
    return copier(project, "update", "--defaults", *args)


def problems(project: Path) -> list[str]:
    """Everything an update left unmerged: unmerged index entries, .rej files, conflict
    markers in any tracked or untracked (not ignored) file."""
    found = []
    for line in git(project, "status", "--porcelain", "--untracked-files=all").splitlines():
        code, name = line[:2], line[3:]
        if code in CONFLICT_CODES:
            found.append(f"unmerged ({code}): {name}")
        if name.endswith(".rej"):
            found.append(f"rejected hunks: {name}")
    listed = git(project, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in sorted(set(filter(None, listed.split("\0")))):
        path = project / name
        if path.is_file() and MARKER.search(path.read_bytes()):
            found.append(f"conflict markers: {name}")
    return found


def assert_clean_merge(project: Path) -> None:
    """Fail on any unmerged file or conflict marker, even when Copier exited 0."""
    left = problems(project)
    assert not left, "the update did not merge cleanly:\n" + "\n".join(left)


@dataclass
class OwnerEdits:
    """Files the owner changed and what they hold, to compare after an update."""

    owned: dict[str, str]
    readme: bool = True

    def assert_intact(self, project: Path) -> None:
        for name, text in self.owned.items():
            assert (project / name).read_text() == text, f"the owner's {name} changed"
        if self.readme:
            assert OWNER_README in (project / "README.md").read_text(), "README edit lost"


def _replace(path: Path, before: str, after: str) -> None:
    text = path.read_text()
    assert text.count(before) == 1, f"{path} no longer holds {before!r}"
    path.write_text(text.replace(before, after))


def owner_edits(project: Path, package: str = "notes_server", readme: bool = True) -> OwnerEdits:
    """Add an operation (service method, table entry, domain test), change a model, edit the
    README (unless `readme` is false): what an owner typically does between template releases."""
    src = project / "src" / package
    models = src / "domain" / "models.py"
    _replace(models, "min_length=1, max_length=200)", "min_length=1, max_length=120)")
    models.write_text(
        models.read_text()
        + (
            "\n\nclass NoteCount(BaseModel):\n"
            '    total: int = Field(description="How many notes match")\n'
            "    tag: str | None = None\n"
        )
    )
    service = src / "domain" / "service.py"
    _replace(
        service,
        "from .models import Body, Cursor, Limit, Note, NoteList,",
        "from .models import Body, Cursor, Limit, Note, NoteCount, NoteList,",
    )
    service.write_text(
        service.read_text()
        + (
            "\n    def count_notes(self, tag: Tag | None = None) -> NoteCount:\n"
            '        """Count the notes, optionally only those carrying a tag."""\n'
            "        total = len(self.repository.list(tag, 1_000_000, None))\n"
            "        return NoteCount(total=total, tag=tag)\n"
        )
    )
    operations = src / "operations.py"
    text = operations.read_text()
    assert text.rstrip().endswith("),\n)"), "operations.py no longer ends with the table"
    operations.write_text(
        text.rstrip()[:-1]
        + (
            "    Operation(\n"
            '        Service.count_notes, "GET", "/note-count", read_only=True,\n'
            '        examples=(Example({}), Example({"tag": "home"})),\n'
            "    ),\n)\n"
        )
    )
    tests = project / "tests" / "test_domain.py"
    tests.write_text(
        tests.read_text()
        + (
            "\n\ndef test_count_filters_by_tag(service: Service) -> None:\n"
            '    service.create_note(slug="a", title="A", tags=["home"])\n'
            '    service.create_note(slug="b", title="B")\n'
            "    assert service.count_notes().total == 2\n"
            '    assert service.count_notes(tag="home").total == 1\n'
        )
    )
    if readme:
        path = project / "README.md"
        text = path.read_text()
        heading = text.split("\n", 1)[0]
        path.write_text(text.replace(heading + "\n", f"{heading}\n\n{OWNER_README}\n", 1))
    owned = [models, service, operations, tests]
    return OwnerEdits({str(p.relative_to(project)): p.read_text() for p in owned}, readme)


def reinstall(project: Path) -> None:
    """Install the project's (possibly changed) dependencies into its existing `.venv`, as an
    owner does after an update (`install()` would make the environment anew)."""
    from tests.helpers.render import uv_bin

    proc = subprocess.run(
        [uv_bin(), "pip", "install", "-q", "-p", str(project / ".venv" / "bin" / "python"), "-e", f"{project}[dev]"],
        capture_output=True,
        text=True,
        env=env(),
        check=False,
        timeout=900,
    )
    assert proc.returncode == 0, f"reinstalling {project} failed:\n{proc.stderr}"


def regenerate_contract(project: Path, package: str = "notes_server") -> None:
    """What the owner runs after changing the table (Recommended and up)."""
    proc = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-m", f"{package}.interfaces.contract"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env(),
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, f"regenerating the contract failed:\n{proc.stderr}"


def checker_env() -> dict[str, str]:
    """Environment in which `python -m chora_base.cli` works, installed or not."""
    base = env()
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), base.get("PYTHONPATH")]))
    return base


def check(project: Path) -> subprocess.CompletedProcess[str]:
    """`chora-base check <project> --python <project>/.venv/bin/python`."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "chora_base.cli",
            "check",
            str(project),
            "--format",
            "markdown",
            "--python",
            str(project / ".venv" / "bin" / "python"),
        ],
        capture_output=True,
        text=True,
        env=checker_env(),
        check=False,
        timeout=600,
    )
