"""Fast tests of the checker's parts on hand-made trees (no render, no probe)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from chora_base.checker._probe import _import_chain, route_matches
from chora_base.checker.catalog import BASE_URL, SAP_BY_SLUG, TIERS, all_checks
from chora_base.checker.plugin import repo_review_checks, repo_review_families
from chora_base.checker.report import render
from chora_base.checker.runner import ConfigError, run_checks

REPO = Path(__file__).resolve().parents[2]


def test_catalog_ids_titles_and_urls() -> None:
    checks = all_checks()
    ids = [c.id for c in checks]
    assert len(ids) == len(set(ids))
    for c in checks:
        sap = SAP_BY_SLUG[c.family]
        assert re.fullmatch(rf"{sap.prefix}\d{{3}}", c.id)
        assert c.tier in TIERS
        assert c.title and "\n" not in c.title
        assert c.rationale.strip()
        assert c.url == f"{BASE_URL}/saps/{c.family}/adoption-blueprint/#{c.id.lower()}"
    assert set(repo_review_checks()) == set(ids)
    assert set(repo_review_families()) == set(SAP_BY_SLUG)
    # Every tier has checks, so each tier is a real step.
    assert {c.tier for c in checks} == set(TIERS)


def _minimal(tmp_path: Path, **pyproject_extra: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "AGENTS.md").write_text("# Agents\n\nCall the operations; read error codes.\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "0"\n[tool.ruff]\nline-length = 100\n' + "".join(pyproject_extra.values())
    )
    return tmp_path


def test_ignore_needs_a_reason(tmp_path: Path) -> None:
    _minimal(tmp_path, ignore='[tool.chora-base.ignore]\nTP003 = ""\n')
    with pytest.raises(ConfigError, match="TP003 has no reason"):
        run_checks(tmp_path, select=["TP"])


def test_ignore_of_unknown_check_is_an_error(tmp_path: Path) -> None:
    _minimal(tmp_path, ignore='[tool.chora-base.ignore]\nXX999 = "typo"\n')
    with pytest.raises(ConfigError, match="unknown check 'XX999'"):
        run_checks(tmp_path, select=["TP"])


def test_ignore_with_reason_counts_as_met_and_is_shown(tmp_path: Path) -> None:
    _minimal(tmp_path, ignore='[tool.chora-base.ignore]\nTP002 = "docs live in the wiki"\n')
    report = run_checks(tmp_path, select=["TP002", "TP003", "TP004"])
    statuses = {r.id: r.status for r in report.results if r.status != "not-run"}
    assert statuses == {"TP002": "ignored", "TP003": "pass", "TP004": "pass"}
    assert "docs live in the wiki" in render(report, "markdown")
    assert "docs live in the wiki" in render(report, "html")


def test_repo_review_ignore_list_cannot_bypass_reasons(tmp_path: Path) -> None:
    # repo-review's own [tool.repo-review] ignore has no reasons; it must not hide checks.
    _minimal(tmp_path, rr='[tool.repo-review]\nignore = ["TP002"]\n')
    report = run_checks(tmp_path, select=["TP002"])
    assert next(r for r in report.results if r.id == "TP002").status == "fail"


@pytest.mark.parametrize(
    ("line", "flagged"),
    [
        ('URL = "http://10.0.0.5:8080/notes"', True),
        ('PEER = "http://billing:8080"', True),
        ('ADDR = "192.168.1.20:9000"', True),
        ('DEFAULT = "http://127.0.0.1:8000"', False),
        ('DOC = "https://docs.python.org/3/library/json.html"', False),
        ('EXAMPLE = "http://registry.example:8500"', False),
        ("# see http://10.0.0.5:8080 (comment)", False),
    ],
)
def test_rg001_hard_coded_peers(tmp_path: Path, line: str, flagged: bool) -> None:
    _minimal(tmp_path)
    pkg = tmp_path / "src" / "svc"
    pkg.mkdir(parents=True)
    (pkg / "settings.py").write_text(line + "\n")
    report = run_checks(tmp_path, select=["RG001"])
    rg001 = next(r for r in report.results if r.id == "RG001")
    assert (rg001.status == "fail") is flagged, rg001.message


def test_ci_workflow_checks(tmp_path: Path) -> None:
    _minimal(tmp_path)
    flows = tmp_path / ".github" / "workflows"
    flows.mkdir(parents=True)
    # Mentioning the tools in names or comments is not running them.
    (flows / "ci.yml").write_text(
        yaml.safe_dump({"jobs": {"lint": {"name": "ruff pytest", "steps": [{"run": "echo hello"}]}}})
    )
    report = run_checks(tmp_path, select=["TP005", "TP006"])
    assert [r.status for r in report.results if r.status != "not-run"] == ["fail", "skip"]
    (flows / "ci.yml").write_text(
        yaml.safe_dump(
            {
                "jobs": {
                    "test": {
                        "steps": [
                            {"run": "ruff check .\npytest"},
                            {"run": 'uvx --from "git+https://example.org/chora-base@abc" chora-base check .'},
                        ]
                    }
                }
            }
        )
    )
    report = run_checks(tmp_path, select=["TP005", "TP006"])
    assert [r.status for r in report.results if r.status != "not-run"] == ["pass", "pass"]


def test_static_only_selection_never_starts_the_probe(tmp_path: Path) -> None:
    # TP002 and TP003 compare the docs with the operation table, so they read the probe.
    report = run_checks(_minimal(tmp_path), select=["TP001", "TP004", "TP005", "TP006", "TP007", "TP008"])
    assert report.interpreter is None  # the lazy probe was never run
    assert report.partial and "Partial run" in report.notes[-1]


def test_import_chain_from_importtime() -> None:
    stderr = textwrap.dedent("""\
        import time: self [us] | cumulative | imported package
        import time:       100 |        100 |       starlette
        import time:       300 |        900 |     fastapi
        import time:        50 |       1000 |   svc.interfaces.rest
        import time:        20 |       1100 | svc.interfaces.cli
    """)
    assert _import_chain(stderr, "fastapi") == ["svc.interfaces.cli", "svc.interfaces.rest", "fastapi"]
    assert _import_chain(stderr, "mcp") == []


def test_route_matching_allows_a_version_prefix() -> None:
    assert route_matches("GET", "/notes/{slug}", "GET", "/v1/notes/{slug}")
    assert route_matches("get", "/notes", "GET", "/notes")
    assert not route_matches("GET", "/notes", "POST", "/notes")
    assert not route_matches("GET", "/notes", "GET", "/api/notes")


def test_pre_commit_hook_definition() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "chora-base-check")
    assert hook["entry"] == "chora-base check"
    assert hook["pass_filenames"] is False


def test_summary_file_gets_markdown_and_stdout_gets_the_format(
    tmp_path: Path, chora_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    project = _minimal(tmp_path / "p")
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    proc = chora_cli("check", project, "--select", "TP003", "--format", "json", "--summary", summary)
    assert proc.returncode == 0, proc.stderr
    assert [c["id"] for c in json.loads(proc.stdout)["checks"]] == ["TP003"]
    text = summary.read_text()
    assert text.startswith("earlier step\n")  # appended, never truncated
    assert "## chora-base check" in text and "[TP003](" in text


def test_plugin_fixtures_chain_through_repo_review(tmp_path: Path) -> None:
    """The entry points as repo-review wires them: fixtures by name, then checks."""
    import tomllib

    from repo_review.fixtures import apply_fixtures, compute_fixtures, pyproject
    from repo_review.processor import CollectionReturn, process

    from chora_base.checker import plugin

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    fixture_eps = declared["repo_review.fixtures"]
    assert declared["repo_review.checks"]["chora_base"].endswith(":repo_review_checks")
    assert declared["repo_review.families"]["chora_base"].endswith(":repo_review_families")
    funcs = {name: getattr(plugin, target.rsplit(":", 1)[1]) for name, target in fixture_eps.items()}
    root = _minimal(tmp_path)
    fixtures = compute_fixtures(root, root, {"pyproject": pyproject, **funcs})
    checks = apply_fixtures(fixtures, plugin.repo_review_checks)
    only = {k: v for k, v in checks.items() if k in {"TP003", "TP004"}}
    families = apply_fixtures(fixtures, plugin.repo_review_families)
    result = process(root, collected=CollectionReturn(fixtures, only, families))
    assert {r.name: r.result for r in result.results} == {"TP003": True, "TP004": True}
    assert result.results[0].url.endswith("/adoption-blueprint/#tp003")


def test_relative_python_is_made_absolute_without_leaving_the_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chora_base.checker.probe import Probe
    from chora_base.checker.project import load_project

    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(Path(sys.executable))
    monkeypatch.chdir(tmp_path)
    probe = Probe(load_project(_minimal(tmp_path / "proj")), Path("venv/bin/python"))
    # Absolute (the probe runs from the project folder) but still the venv's own link.
    assert probe.python == tmp_path / "venv" / "bin" / "python"


def test_start_probe_only_when_a_behaviour_check_is_selected(tmp_path: Path) -> None:
    from chora_base.checker.start import start_probe

    project = _minimal(tmp_path)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "0"\n[project.scripts]\nx = "xpkg.interfaces.cli:main"\n'
    )
    static = start_probe(project, None, ["TP001", "TP004", "RG"], [])  # TP002/TP003 read the table
    assert static._proc is None and not static.ran
    behaviour = start_probe(project, Path(sys.executable), ["MI001"], [])
    try:
        assert behaviour._proc is not None  # already running before anyone asks
        assert "`import xpkg` failed" in (behaviour.fatal or "")
    finally:
        behaviour.stop()


def _check_json(project: Path, *args: str, virtual_env: Path | None = None) -> dict:
    """`chora-base check --format json` as a process, with or without an activated venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "GITHUB_STEP_SUMMARY")}
    env["PYTHONPATH"] = str(REPO / "src")
    if virtual_env is not None:
        env["VIRTUAL_ENV"] = str(virtual_env)
    proc = subprocess.run(
        [sys.executable, "-m", "chora_base.cli", "check", str(project), "--format", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def _fake_venv(path: Path) -> Path:
    """A directory laid out like a venv whose python is this interpreter (a link, as in a venv)."""
    (path / "bin").mkdir(parents=True)
    (path / "bin" / "python").symlink_to(Path(sys.executable))
    return path


@pytest.mark.parametrize(
    ("select", "expected"),
    [
        (["--select", "TP003"], ["TP003"]),
        (["--select", "TP003,RG001"], ["TP003", "RG001"]),
        (["--select", "RG", "--select", "TP002"], ["TP002", "RG001", "RG002"]),
    ],
)
def test_select_reports_only_the_selected_checks(tmp_path: Path, select: list[str], expected: list[str]) -> None:
    report = _check_json(_minimal(tmp_path), *select)
    assert [c["id"] for c in report["checks"]] == expected


def test_ignore_on_the_command_line_still_lists_what_it_skipped(tmp_path: Path) -> None:
    report = _check_json(_minimal(tmp_path), "--select", "TP", "--ignore", "TP003")
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    assert statuses["TP003"] == "not-run" and all(i.startswith("TP") for i in statuses)


@pytest.mark.parametrize("project_venv", [False, True])
def test_probe_runs_in_the_project_venv_then_the_active_one(tmp_path: Path, project_venv: bool) -> None:
    project = _minimal(tmp_path / "p")
    with (project / "pyproject.toml").open("a") as f:
        f.write('[project.scripts]\nx = "xpkg.interfaces.cli:main"\n')
    active = _fake_venv(tmp_path / "active")
    own = _fake_venv(project / ".venv") if project_venv else None
    report = _check_json(project, "--select", "MI001", virtual_env=active)
    assert report["interpreter"] == str((own or active) / "bin" / "python")
    # Without an activated venv or a project venv, the checker's own interpreter runs it.
    if own is None:
        assert _check_json(project, "--select", "MI001")["interpreter"] == str(Path(sys.executable).absolute())


@pytest.mark.parametrize(
    ("dependency", "module", "flagged"),
    [
        (
            '"opentelemetry-sdk>=1.30"',
            "from opentelemetry import trace\nspan = 'start_as_current_span'\nH = 'traceparent'\n",
            False,
        ),
        ("", "from opentelemetry import trace\nspan = 'start_as_current_span'\nH = 'traceparent'\n", True),
        ('"opentelemetry-sdk>=1.30"', "H = 'traceparent'\n", True),
        ('"opentelemetry-sdk>=1.30"', "from opentelemetry import trace\nspan = 'start_as_current_span'\n", True),
    ],
)
def test_id011_tracing(tmp_path: Path, dependency: str, module: str, flagged: bool) -> None:
    _minimal(tmp_path, deps=f"[project.optional-dependencies]\nx = [{dependency}]\n")
    pkg = tmp_path / "src" / "svc"
    pkg.mkdir(parents=True)
    (pkg / "tracing.py").write_text(module)
    report = run_checks(tmp_path, select=["ID011"])
    id011 = next(r for r in report.results if r.id == "ID011")
    assert (id011.status == "fail") is flagged, id011.message
