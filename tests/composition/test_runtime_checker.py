"""The Advanced composition checks (CP004, CP005) on the worked example's notes server, and on
copies of it broken one way each. The checks read files only, so no environment is needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chora_base.checker.checks.composition import CP004, CP005
from chora_base.checker.project import load_project

NOTES = Path(__file__).resolve().parents[2] / "examples" / "notes"
PUBLISHING = "src/notes/domain/publishing.py"
REST = "src/notes/interfaces/rest.py"
DRAFT = 'Step("draft", draft, drop_draft)'
INDEX = 'Step("index", index, unindex)'


def _copy(tmp_path: Path) -> Path:
    dest = tmp_path / "notes"
    shutil.copytree(NOTES, dest, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    return dest


def test_the_worked_example_passes() -> None:
    project = load_project(NOTES)
    assert [check().check(project) for check in (CP004, CP005)] == ["", ""]


@pytest.mark.parametrize(
    ("name", "check", "file", "old", "new", "says"),
    [
        ("no runtime module", CP004, "src/notes/core/runtime.py", None, None, "core/runtime.py"),
        ("no saga operation helper", CP004, "src/notes/core/saga_operation.py", None, None, "saga_operation.py"),
        (
            "lifespan without the runtime",
            CP004,
            "src/notes/interfaces/rest.py",
            "running(settings)",
            "nullcontext()",
            "lifespan",
        ),
        (
            "step without compensation",
            CP005,
            PUBLISHING,
            'Step("draft", draft, drop_draft)',
            'Step("draft", draft)',
            "`draft`",
        ),
        (
            "keyword steps too",
            CP005,
            PUBLISHING,
            'Step("index", index, unindex)',
            'Step(name="index", action=index)',
            "`index`",
        ),
    ],
)
def test_each_break_is_named(
    tmp_path: Path, name: str, check: type, file: str, old: str | None, new: str | None, says: str
) -> None:
    project = _copy(tmp_path)
    if old is None:
        (project / file).unlink()
    else:
        text = (project / file).read_text()
        assert old in text, (name, old)
        (project / file).write_text(text.replace(old, new or "", 1))
    message = check().check(load_project(project))
    assert message and says in message, (name, message)


def test_an_explicit_none_is_a_choice(tmp_path: Path) -> None:
    project = _copy(tmp_path)
    path = project / PUBLISHING
    path.write_text(path.read_text().replace(DRAFT, 'Step("draft", draft, None)', 1))
    assert CP005().check(load_project(project)) == ""
