"""The checker on real renders: each tier meets exactly itself; each break is named."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chora_base.checker.catalog import TIERS, all_checks
from chora_base.checker.runner import CheckResult, Report, run_checks

Rendered = Callable[[str], Path]
ChoraCli = Callable[..., subprocess.CompletedProcess[str]]


def result(report: Report, check_id: str) -> CheckResult:
    return next(r for r in report.results if r.id == check_id)


@pytest.mark.parametrize("tier", TIERS)
def test_fresh_render_meets_exactly_its_tier(rendered_project: Rendered, tier: str, chora_cli: ChoraCli) -> None:
    project = rendered_project(tier)
    report = run_checks(project)

    assert report.declared_tier == tier
    own = [r for r in report.results if TIERS.index(r.tier) <= TIERS.index(tier)]
    not_passing = {r.id: r.message for r in own if r.status != "pass"}
    assert not_passing == {}, f"{tier} render fails its own checks"
    assert report.ok
    assert report.achieved_tier == tier

    nxt = report.next_tier
    if nxt is None:
        assert tier == "advanced"
    else:
        missing = report.failing(nxt)
        assert missing, f"a {tier} render already meets {nxt}"
        assert all(r.status in ("fail", "skip") and r.message for r in missing)

    # The command line says the same, with exit code 0.
    proc = chora_cli("check", project, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["achieved_tier"] == tier and data["ok"] is True
    assert data["next_tier_missing"] == ([r.id for r in report.failing(nxt)] if nxt else [])
    assert {c["id"] for c in data["checks"]} == {c.id for c in all_checks()}


def test_text_report_names_next_tier_gaps(rendered_project: Rendered, chora_cli: ChoraCli) -> None:
    proc = chora_cli("check", rendered_project("essential"), "--format", "markdown")
    assert proc.returncode == 0, proc.stderr
    assert "Target tier essential: MET" in proc.stdout
    assert "Missing for recommended:" in proc.stdout
    # Every check ID deep-links to its anchor in the SAP's adoption blueprint.
    assert re.search(r"\[MI004\]\(https://\S+/saps/multi-interface/adoption-blueprint/#mi004\)", proc.stdout)


def test_recommended_target_fails_an_essential_project(rendered_project: Rendered, chora_cli: ChoraCli) -> None:
    proc = chora_cli("check", rendered_project("essential"), "--tier", "recommended", "--format", "json")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["ok"] is False and data["achieved_tier"] == "essential"


# ------------------------------------------------------------------ one break per test


def _check(project: Path, original: Path) -> Report:
    # The broken copy has no environment of its own: use the original render's.
    return run_checks(project, python=original / ".venv" / "bin" / "python")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not found in {path}; the template changed shape"
    path.write_text(text.replace(old, new, 1))


def test_removed_mcp_tool_fails_mi004(rendered_project: Rendered, broken_copy: Rendered) -> None:
    project = broken_copy("recommended")
    mcp = project / "src" / "notes_server" / "interfaces" / "mcp.py"
    _edit(
        mcp,
        "tools = [tool_for(op) for op in OPERATIONS]",
        'tools = [tool_for(op) for op in OPERATIONS if op.name != "delete_note"]',
    )
    report = _check(project, rendered_project("recommended"))
    mi004 = result(report, "MI004")
    assert mi004.status == "fail"
    assert "Operations without an MCP tool" in mi004.message and "delete_note" in mi004.message
    assert not report.ok


def test_rest_only_route_fails_mi003(rendered_project: Rendered, broken_copy: Rendered) -> None:
    project = broken_copy("essential")
    rest = project / "src" / "notes_server" / "interfaces" / "rest.py"
    rest.write_text(
        rest.read_text()
        + """

_create_app = create_app


def create_app(*args, **kwargs):  # a route added behind the operation table's back
    app = _create_app(*args, **kwargs)

    @app.get("/stats")
    def stats() -> dict[str, int]:
        return {"notes": 0}

    return app
"""
    )
    report = _check(project, rendered_project("essential"))
    mi003 = result(report, "MI003")
    assert mi003.status == "fail"
    assert "GET /stats" in mi003.message and "add an `Operation(...)`" in mi003.message
    assert not report.ok and report.achieved_tier is None


def test_deleted_agents_md_fails_tp003(rendered_project: Rendered, broken_copy: Rendered) -> None:
    project = broken_copy("essential")
    (project / "AGENTS.md").unlink()
    report = run_checks(project, select=["TP"])
    tp003 = result(report, "TP003")
    assert tp003.status == "fail"
    assert "`AGENTS.md` is missing" in tp003.message and "copier update" in tp003.message
    assert not report.ok


def _without_lines(text: str, *words: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not any(w in line for w in words))


# (check, file, how the owner's copy goes wrong, what the check must say)
DOC_BREAKS = [
    ("TP002", "README.md", lambda t: t + "\n```bash\nnotes-server frobnicate --json\n```\n", "`frobnicate`, which"),
    (
        "TP002",
        "README.md",
        lambda t: _without_lines(t, "delete-note", "delete_note"),
        "does not document `delete_note`",
    ),
    ("TP003", "AGENTS.md", lambda t: t + "\n| operation |\n| --- |\n| `create_widget` |\n", "`create_widget`, which"),
    ("TP003", "docs/usage.md", lambda t: _without_lines(t, "delete-note", "delete_note"), "`delete_note`"),
]


@pytest.mark.parametrize(("check_id", "name", "edit", "said"), DOC_BREAKS)
def test_docs_that_disagree_with_the_table_fail(
    rendered_project: Rendered, broken_copy: Rendered, check_id: str, name: str, edit: Any, said: str
) -> None:
    original = rendered_project("essential")
    project = broken_copy("essential")
    assert (
        result(run_checks(project, python=original / ".venv" / "bin" / "python", select=[check_id]), check_id).status
        == "pass"
    )
    path = project / name
    path.write_text(edit(path.read_text()))
    found = result(run_checks(project, python=original / ".venv" / "bin" / "python", select=[check_id]), check_id)
    assert found.status == "fail" and said in found.message, found.message
    assert "python -m notes_server.interfaces.contract" in found.message


def test_unmapped_error_fails_id001(rendered_project: Rendered, broken_copy: Rendered) -> None:
    project = broken_copy("essential")
    errors = project / "src" / "notes_server" / "domain" / "errors.py"
    errors.write_text(
        errors.read_text()
        + '''

class NoteLocked(DomainError):
    """Someone added an error and forgot its code, status and exit code."""
'''
    )
    report = _check(project, rendered_project("essential"))
    id001 = result(report, "ID001")
    assert id001.status == "fail"
    assert "NoteLocked" in id001.message
    assert "sets no code, http_status, exit_code" in id001.message
    assert "`http_status = 409`" in id001.message  # the fix-it example
    assert not report.ok


def test_openapi_drift_fails_id006(rendered_project: Rendered, broken_copy: Rendered) -> None:
    project = broken_copy("recommended")
    contract = project / "openapi.json"
    data = json.loads(contract.read_text())
    removed = sorted(data["paths"])[0]
    del data["paths"][removed]
    contract.write_text(json.dumps(data, indent=2))
    report = _check(project, rendered_project("recommended"))
    id006 = result(report, "ID006")
    assert id006.status == "fail"
    assert "has drifted" in id006.message
    assert "python -m notes_server.interfaces.contract" in id006.message
    assert f"paths > {removed}: in the app, not in the committed file" in id006.message
    assert report.achieved_tier == "essential"


def test_fastapi_at_cli_startup_fails_mi006(rendered_project: Rendered, broken_copy: Rendered) -> None:
    project = broken_copy("essential")
    cli_py = project / "src" / "notes_server" / "interfaces" / "cli.py"
    text = cli_py.read_text()
    # After the module docstring and __future__ import, an eager import of the web stack.
    anchor = "from __future__ import annotations\n"
    assert anchor in text
    cli_py.write_text(text.replace(anchor, anchor + "\nimport fastapi  # noqa: F401\n", 1))
    report = _check(project, rendered_project("essential"))
    mi006 = result(report, "MI006")
    assert mi006.status == "fail"
    assert "imports `fastapi` via" in mi006.message
    assert "notes_server.interfaces.cli" in mi006.message
    assert "Move that import inside the function" in mi006.message


def test_ignore_with_reason_is_reported(rendered_project: Rendered, broken_copy: Rendered, chora_cli: ChoraCli) -> None:
    project = broken_copy("essential")
    (project / "AGENTS.md").unlink()
    with (project / "pyproject.toml").open("a") as f:
        f.write('\n[tool.chora-base.ignore]\nTP003 = "agents read the README in this repo"\n')
    report = run_checks(project, select=["TP"])
    tp003 = result(report, "TP003")
    assert tp003.status == "ignored"
    assert tp003.message == "agents read the README in this repo"
    assert report.ok
    proc = chora_cli("check", project, "--select", "TP", "--format", "markdown")
    assert proc.returncode == 0, proc.stderr
    assert "agents read the README in this repo" in proc.stdout


def test_missing_operation_resource_fails_id012(rendered_project: Rendered, broken_copy: Rendered) -> None:
    project = broken_copy("essential")
    rest = project / "src" / "notes_server" / "interfaces" / "rest.py"
    text = rest.read_text()
    call = "add_operation_routes(app, runner, API_PREFIX, None)"
    assert call in text
    rest.write_text(text.replace(call, "pass  # the operation resource was dropped"))
    report = _check(project, rendered_project("essential"))
    id012 = result(report, "ID012")
    assert id012.status == "fail"
    assert "export_notes long-running" in id012.message
    assert "GET .../operations/{id}" in id012.message
    assert not report.ok
