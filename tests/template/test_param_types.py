"""Every parameter type the operation table accepts works on every interface.

One Advanced render gets two operations of its owner's own — the way an owner adds them: a
service method and a table entry with examples — whose parameters cover bool, Literal (text
and numbers), bounded int, list, dict and optional values, one with a JSON body and one with a
query string. The project's own parity, journey and bad-input tests must then pass, the CLI
help must describe each type, and the CLI examples must run as printed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers.render import install, render, run_in

SERVICE_IMPORTS = (
    "from typing import TYPE_CHECKING\n",
    "from typing import TYPE_CHECKING, Annotated, Literal\n\nfrom pydantic import Field\n",
)
_MODELS = "Body, Cursor, Limit, Note, NoteList, NotesExport, PauseMs, Slug, Tag, Tags, Title, Version"
MODEL_IMPORTS = (
    f"from .models import {_MODELS}\n",
    "from .models import (\n" + "".join(f"    {n},\n" for n in sorted([*_MODELS.split(", "), "TypesEcho"])) + ")\n",
)
MODEL = """

class TypesEcho(BaseModel):
    label: str
    loud: bool
    mode: str
    count: int
    level: int
    words: list[str]
    extra: dict[str, int]
    note: str | None
    strict: bool | None
"""
# Appended to the end of the Service class (the last thing in service.py).
METHODS = '''
    def echo_types(
        self,
        label: str,
        loud: bool = False,
        mode: Literal["plain", "fancy"] = "plain",
        count: Annotated[int, Field(ge=1, le=9)] = 1,
        level: Literal[1, 2, 3] = 1,
        words: list[str] = [],  # noqa: B006
        extra: dict[str, int] = {},  # noqa: B006
        note: str | None = None,
        strict: bool | None = None,
    ) -> TypesEcho:
        """Return every parameter as received (a body with every type)."""
        return TypesEcho(
            label=label, loud=loud, mode=mode, count=count, level=level, words=words, extra=extra, note=note,
            strict=strict,
        )

    def peek_types(
        self,
        loud: bool = False,
        mode: Literal["plain", "fancy"] | None = None,
        count: Annotated[int, Field(ge=1, le=9)] = 1,
        words: list[str] = [],  # noqa: B006
        strict: bool | None = None,
    ) -> TypesEcho:
        """Return the query parameters as received (the same types in a query string)."""
        return TypesEcho(
            label="peek", loud=loud, mode=mode or "unset", count=count, level=1, words=words, extra={}, note=None,
            strict=strict,
        )
'''
ENTRIES = """    Operation(
        Service.echo_types,
        "POST",
        "/types",
        examples=(
            Example(
                {
                    "label": "all",
                    "loud": True,
                    "mode": "fancy",
                    "count": 3,
                    "level": 2,
                    "words": ["x", "two words"],
                    "extra": {"k": 1, "j": 2},
                    "note": "a 'quoted' note",
                    "strict": False,
                }
            ),
            Example({"label": "defaults"}),
            Example({"label": "explicit false", "loud": False, "extra": {}}),
            Example({"label": "bad mode", "mode": "shouty"}, error="validation_error"),
            Example({"label": "too many", "count": 10}, error="validation_error"),
            Example({"label": "bad level", "level": 4}, error="validation_error"),
            Example({"label": "bad dict", "extra": {"k": "many"}}, error="validation_error"),
        ),
    ),
    Operation(
        Service.peek_types,
        "GET",
        "/types",
        read_only=True,
        examples=(
            Example({"loud": True, "mode": "fancy", "count": 9, "words": ["a", "b"], "strict": True}),
            Example({}),
            Example({"mode": "shouty"}, error="validation_error"),
            Example({"count": 0}, error="validation_error"),
        ),
    ),
)
"""


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name} no longer has {old!r}; update this test's edit"
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def typed_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installed Advanced render with the two typed operations added by hand."""
    project = render("advanced", tmp_path_factory.mktemp("param-types") / "notes-server")
    domain = project / "src" / "notes_server" / "domain"
    _edit(domain / "service.py", *SERVICE_IMPORTS)
    _edit(domain / "service.py", *MODEL_IMPORTS)
    with (domain / "service.py").open("a") as service:
        service.write(METHODS)
    with (domain / "models.py").open("a") as models:
        models.write(MODEL)
    table = project / "src" / "notes_server" / "operations.py"
    text = table.read_text().rstrip()
    assert text.endswith("),\n)"), "operations.py no longer ends with the OPERATIONS tuple"
    table.write_text(text[: -len(")")] + ENTRIES)
    install(project)
    # As an owner does after changing the table: regenerate the typed client, docs and contract.
    generated = run_in(project, "python", "-m", "notes_server.interfaces.contract")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    return project


def test_every_type_passes_the_projects_own_interface_tests(typed_project: Path) -> None:
    tests = ["tests/test_parity.py", "tests/test_journey.py", "tests/test_bad_input.py"]
    proc = run_in(typed_project, "pytest", "-q", "-p", "no:cacheprovider", *tests)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-500:]


def test_help_describes_each_type(typed_project: Path) -> None:
    cli = str(typed_project / ".venv" / "bin" / "notes-server")
    shown = subprocess.run([cli, "echo-types", "--help"], capture_output=True, text=True, check=True).stdout
    lines = {line.split()[0]: line for line in shown.splitlines() if line.strip().startswith("--")}
    assert "[required]" in lines["--label"]
    assert "--loud / --no-loud" in shown and "[default: --no-loud]" in lines["--loud"]
    assert "[plain|fancy]" in lines["--mode"] and "[1|2|3]" in lines["--level"]
    assert "INTEGER" in lines["--count"] and "1<=x<=9" in lines["--count"]
    assert "[repeatable]" in lines["--words"] and "JSON" in lines["--extra"]
    assert "--strict / --no-strict" in shown and "TEXT" in lines["--note"]
    assert "OPTIONAL" not in shown and "PydanticUndefined" not in shown


def test_cli_examples_run_as_printed(typed_project: Path) -> None:
    """`shlex.join` of `example_argv` is what docs print; run that text in a shell."""
    python = str(typed_project / ".venv" / "bin" / "python")
    printed = subprocess.run(
        [
            python,
            "-c",
            "import json, shlex\n"
            "from notes_server.interfaces.cli import example_argv\n"
            "from notes_server.operations import OPERATIONS\n"
            "print(json.dumps([[shlex.join(['notes-server', *example_argv(op, dict(ex.input))]), dict(ex.input)]"
            " for op in OPERATIONS if op.name.endswith('_types') for ex in op.examples if ex.error is None]))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    examples = json.loads(printed.stdout)
    first = examples[0][0]
    assert "--loud" in first and "--no-strict" in first and """--extra '{"k": 1, "j": 2}'""" in first, first
    env_path = f"{typed_project / '.venv' / 'bin'}:/usr/bin:/bin"
    for command, given in examples:
        proc = subprocess.run(
            ["sh", "-c", command],
            capture_output=True,
            text=True,
            env={"PATH": env_path, "NOTES_SERVER_DATA_DIR": str(typed_project / ".data")},
        )
        assert proc.returncode == 0, (command, proc.stderr)
        result = json.loads(proc.stdout)
        assert {k: result[k] for k in given if k in result} == {k: v for k, v in given.items() if k in result}, (
            command,
            result,
        )
