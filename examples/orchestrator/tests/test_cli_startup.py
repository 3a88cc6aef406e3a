"""`--help` and domain commands must not pay for the web and MCP stacks. Template-owned."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from orchestrator.interfaces.cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"fastapi", "mcp", "uvicorn", "starlette", "httpx"})
print("HEAVY:" + ",".join(heavy))
"""


@pytest.mark.parametrize("args", [["--help"], ["list-notes", "--json"]])
def test_cli_start_up_stays_light(args: list[str], tmp_path: object) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env={"ORCHESTRATOR_DATA_DIR": str(tmp_path)},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY:", proc.stdout


def test_help_lists_every_operation_without_loading_the_domain(tmp_path: object) -> None:
    from orchestrator import OPERATIONS

    probe = PROBE.replace('"httpx"}', '"httpx", "pydantic"}')
    for _ in range(2):  # the first run may build the command index, the second must reuse it
        proc = subprocess.run(
            [sys.executable, "-c", probe, "--help"],
            capture_output=True,
            text=True,
            env={"ORCHESTRATOR_DATA_DIR": str(tmp_path)},
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY:", proc.stdout
    for op in OPERATIONS:
        assert op.cli_name in proc.stdout and op.summary[:30] in proc.stdout


def test_stale_command_index_is_rebuilt(tmp_path: object) -> None:
    from orchestrator.interfaces import cli

    cli.INDEX_FILE.parent.mkdir(exist_ok=True)
    cli.INDEX_FILE.write_text('{"stamp": [], "commands": {"ghost": "not an operation"}}')
    index = cli.operation_index()
    assert "ghost" not in index and index
