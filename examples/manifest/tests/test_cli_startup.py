"""`--help` and domain commands must not pay for the web and MCP stacks. Template-owned."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from manifest.interfaces.cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"fastapi", "mcp", "uvicorn", "starlette"})
print("HEAVY:" + ",".join(heavy))
"""


@pytest.mark.parametrize("args", [["--help"], ["list-notes", "--json"]])
def test_cli_start_up_stays_light(args: list[str], tmp_path: object) -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          env={"MANIFEST_DATA_DIR": str(tmp_path)}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY:", proc.stdout
