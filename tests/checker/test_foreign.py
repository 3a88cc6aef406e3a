"""The checker on repositories not rendered from the template: it reports, never crashes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from chora_base.checker.catalog import all_checks

ChoraCli = Callable[..., subprocess.CompletedProcess[str]]


def check_json(chora_cli: ChoraCli, path: Path, *extra: str) -> tuple[int, dict, str]:
    proc = chora_cli("check", path, "--format", "json", *extra)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def by_id(data: dict) -> dict[str, dict]:
    return {c["id"]: c for c in data["checks"]}


def test_empty_folder_reports_everything_missing(tmp_path: Path, chora_cli: ChoraCli) -> None:
    code, data, _ = check_json(chora_cli, tmp_path)
    assert code == 1
    assert data["declared_tier"] is None and data["achieved_tier"] is None
    assert "No tier declared" in data["notes"][0]
    checks = by_id(data)
    assert set(checks) == {c.id for c in all_checks()}
    assert "copier copy" in checks["TP001"]["message"]
    assert checks["TP003"]["status"] == "fail"
    assert "no Python package found" in checks["MI001"]["message"]
    # Behaviour checks that need the package are skipped with the reason, not crashed.
    assert checks["MI002"]["status"] == "skip"
    assert "MI001" in checks["MI002"]["message"]


def test_plain_fastapi_app(tmp_path: Path, chora_cli: ChoraCli) -> None:
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent("""
        [project]
        name = "plain-api"
        version = "0.1.0"
        dependencies = ["fastapi"]
    """)
    )
    pkg = tmp_path / "src" / "plain_api"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "main.py").write_text(
        textwrap.dedent("""
        from fastapi import FastAPI

        app = FastAPI()
        BILLING = "http://billing.internal:8080/charge"


        @app.get("/items/{item_id}")
        def read_item(item_id: int) -> dict[str, int]:
            return {"item_id": item_id}
    """)
    )
    (tmp_path / "README.md").write_text("# plain api\n\nA FastAPI app.\n")
    code, data, _ = check_json(chora_cli, tmp_path)
    assert code == 1
    checks = by_id(data)
    assert checks["TP004"]["status"] == "fail" and "[tool.ruff]" in checks["TP004"]["message"]
    assert checks["TP002"]["status"] == "fail" and "CLI" in checks["TP002"]["message"]
    assert "no Python package found" in checks["MI001"]["message"]
    # The static scan still runs over src/ and finds the hard-coded peer.
    assert checks["RG001"]["status"] == "fail"
    assert "billing.internal:8080" in checks["RG001"]["message"]


def test_package_that_fails_to_import(tmp_path: Path, chora_cli: ChoraCli) -> None:
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent("""
        [project]
        name = "half-done"
        version = "0.1.0"
        [project.scripts]
        half-done = "half_done.interfaces.cli:main"
        [tool.ruff]
        line-length = 100
    """)
    )
    pkg = tmp_path / "src" / "half_done"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("import a_module_that_does_not_exist\n")
    code, data, _ = check_json(chora_cli, tmp_path, "--python", sys.executable)
    assert code == 1
    checks = by_id(data)
    assert checks["TP004"]["status"] == "pass"
    message = checks["MI001"]["message"]
    assert "`import half_done` failed" in message
    assert "a_module_that_does_not_exist" in message
    assert "--python" in message  # says how to point the checker at the right environment
    assert checks["ID001"]["status"] == "skip"

    # With MI001 ignored (with a reason), the dependent checks run and say the same thing
    # instead of checking empty data.
    with (tmp_path / "pyproject.toml").open("a") as f:
        f.write('[tool.chora-base.ignore]\nMI001 = "testing the fallback"\n')
    code, data, _ = check_json(chora_cli, tmp_path, "--python", sys.executable)
    checks = by_id(data)
    assert checks["MI001"]["status"] == "ignored"
    for check_id in ("MI002", "MI003", "ID001", "BS001"):
        assert checks[check_id]["status"] == "fail"
        assert "`import half_done` failed" in checks[check_id]["message"]


def test_not_a_directory_is_a_usage_error(tmp_path: Path, chora_cli: ChoraCli) -> None:
    proc = chora_cli("check", tmp_path / "missing")
    assert proc.returncode == 2
    assert "is not a directory" in proc.stderr
