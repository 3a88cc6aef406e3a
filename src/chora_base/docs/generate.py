"""Generate the snippets the SAP site includes, from the real template, checker and examples.

    python -m chora_base.docs.generate            # rewrite saps/_generated/
    python -m chora_base.docs.generate --check    # exit 1 and list files that are stale
    python -m chora_base.docs.generate --only checks,status

Parts (each owns some paths under ``saps/_generated/``):

- ``checks``: the compliance check list, the definition-of-done checklist of every SAP tier
  (with the anchors check URLs point at) and the SAP index, from the checker's catalog;
- ``status``: what of the registry exists in this repository today;
- ``template``: the tier matrix, the questions, the answers file and other excerpts, from
  projects rendered at every tier;
- ``interfaces``: one operation over every interface, with outputs, by running the commands
  in ``interface_examples.yaml`` against a rendered, installed, running project;
- ``adoption``: the adoption table of each SAP, from checker runs on ``examples/``;
- ``bootstrap``: the bootstrap SAP's console blocks, from a real stack brought up and removed
  by the orchestrator example (``docs/bootstrap.py``).
- ``composition``: the composition SAP's worked example (``examples/notes`` and
  ``examples/search`` with the registry and a nats-server), commands run and output captured.

Pages include these files with ``--8<--``; nothing in them is typed by hand.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from chora_base.docs.bootstrap import part_bootstrap
from chora_base.docs.render import PROJECT_NAME, install, render
from chora_base.docs.saps import SAPS, TIERS
from chora_base.render import REPO

OUT = REPO / "saps" / "_generated"
EXAMPLES_FILE = Path(__file__).with_name("interface_examples.yaml")
DOCS_URL = "http://127.0.0.1:8000"
PACKAGE = PROJECT_NAME.replace("-", "_")
TEMPLATE_PKG_DIR = REPO / "template" / "src" / "{{package_name}}"

Files = dict[str, str]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


# --------------------------------------------------------------------------- checks


def part_checks(_work: Path) -> Files:
    from chora_base.checker.catalog import all_checks

    checks = all_checks()
    slugs = {sap.slug for sap in SAPS}
    unknown = sorted({c.family for c in checks} - slugs)
    if unknown:
        raise RuntimeError(f"checks belong to SAPs the site does not have: {unknown}")

    files: Files = {}
    page = []
    for sap in SAPS:
        mine = [c for c in checks if c.family == sap.slug]
        page += [f"## {sap.title}", ""]
        if not mine:
            page += ["No automated checks for this SAP yet.", ""]
            continue
        page += ["| ID | tier | check | why it matters |", "| --- | --- | --- | --- |"]
        for c in mine:
            link = f"[{c.id}]({sap.slug}/adoption-blueprint.md#{c.id.lower()})"
            page.append(f"| {link} | {c.tier.capitalize()} | {_cell(c.title)} | {_cell(c.rationale)} |")
        page.append("")
    files["checks.md"] = "\n".join(page)

    for sap in SAPS:
        for tier in TIERS:
            items = [c for c in checks if c.family == sap.slug and c.tier == tier]
            if items:
                lines = [
                    f'- [ ] <a id="{c.id.lower()}"></a>**{c.id}**: {c.title}  \n  *Why:* {_cell(c.rationale)}'
                    for c in items
                ]
            else:
                lines = ["No automated check covers this tier yet; verify the items below by hand."]
            files[f"dod/{sap.slug}-{tier}.md"] = "\n".join(lines) + "\n"

    rows = ["| SAP | what it covers | in the template | checks (E / R / A) |", "| --- | --- | --- | --- |"]
    for sap in SAPS:
        counts = " / ".join(str(sum(1 for c in checks if c.family == sap.slug and c.tier == t)) for t in TIERS)
        rows.append(
            f"| [{sap.title}]({sap.slug}/capability-charter.md) | {_cell(sap.summary)} | {sap.status} | {counts} |"
        )
    files["sap-index.md"] = "\n".join(rows) + "\n"
    return files


# --------------------------------------------------------------------------- status


def part_status(_work: Path) -> Files:
    """Facts about the registry, read from this repository's files."""
    lines = []
    client = sorted(p.name for p in TEMPLATE_PKG_DIR.glob("core/manifest_client.py*"))
    if client:
        lines.append(
            "- **Template client:** rendered at every tier "
            "(`src/<pkg>/core/manifest_client.py`); it is active when "
            "`<PKG>_REGISTRY_URL` is set and the server runs standalone otherwise."
        )
    else:
        lines.append(
            "- **Template client:** not in the template yet. Rendered servers read "
            "`<PKG>_REGISTRY_URL` but do not register anywhere; leave it unset."
        )
    manifest = REPO / "examples" / "manifest"
    ops_file = next(iter(sorted(manifest.glob("src/*/operations.py"))), None)
    if ops_file is not None:
        names = _operation_names(ops_file)
        lines.append(
            f"- **Registry server:** `examples/manifest/` exists, rendered from this "
            f"template; its operation table has {len(names)} operations: " + ", ".join(f"`{n}`" for n in names) + "."
        )
        domain = "\n".join(p.read_text(encoding="utf-8").lower() for p in sorted(manifest.glob("src/*/domain/*.py")))
        backends = [label for label, marker in (("SQLite", "sqlite3"), ("etcd", "etcd")) if marker in domain]
        if backends:
            lines.append("- **Storage backends in its domain code:** " + ", ".join(backends) + ".")
    else:
        lines.append(
            "- **Registry server:** not in `examples/` yet. This page describes its "
            "contract; nothing on it can be run today."
        )
    files = {"registry-status.md": "\n".join(lines) + "\n"}
    files.update(_registry_tables(manifest))
    files["template-releases.md"] = _releases()
    return files


def _releases() -> str:
    """The release entries of CHANGELOG.md (from "Unreleased" on), headings one level down."""
    changelog = REPO / "CHANGELOG.md"
    if not changelog.is_file():
        return "No release has been recorded yet (`CHANGELOG.md` does not exist).\n"
    text = changelog.read_text(encoding="utf-8")
    start = text.find("\n## Unreleased")
    body = text[start + 1 :] if start >= 0 else ""
    if not body:
        return "`CHANGELOG.md` lists no releases yet.\n"
    return "\n".join("#" + line if line.startswith("## ") else line for line in body.splitlines()).rstrip("\n") + "\n"


def _registry_tables(manifest: Path) -> Files:
    """The record schema and the operation table of ``examples/manifest``, read from its code."""
    missing = "(`examples/manifest/` does not exist yet.)\n"
    models = next(iter(sorted(manifest.glob("src/*/domain/models.py"))), None)
    ops = next(iter(sorted(manifest.glob("src/*/operations.py"))), None)
    service = next(iter(sorted(manifest.glob("src/*/domain/service.py"))), None)
    files = {"registry/record.md": missing, "registry/operations.md": missing}
    if models is not None:
        tree = ast.parse(models.read_text(encoding="utf-8"))
        record = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Instance"), None)
        if record is not None:
            rows = ["| field | type | description |", "| --- | --- | --- |"]
            for stmt in record.body:
                if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                    continue
                description = ""
                if isinstance(stmt.value, ast.Call):
                    for kw in stmt.value.keywords:
                        if kw.arg == "description" and isinstance(kw.value, ast.Constant):
                            description = kw.value.value
                rows.append(f"| `{stmt.target.id}` | `{_cell(ast.unparse(stmt.annotation))}` | {_cell(description)} |")
            files["registry/record.md"] = "\n".join(rows) + "\n"
    if ops is not None and service is not None:
        docs = {}
        for node in ast.walk(ast.parse(service.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef):
                doc = ast.get_docstring(node) or ""
                docs[node.name] = doc.split("\n")[0].replace("``", "`")
        answers = yaml.safe_load((manifest / ".copier-answers.yml").read_text(encoding="utf-8"))
        cli = answers.get("cli_name") or answers.get("project_name") or "manifest"
        prefix = "/v1" if answers.get("tier") == "advanced" else ""  # versioned routes
        rows = ["| operation | REST | CLI | MCP tool | what it does |", "| --- | --- | --- | --- | --- |"]
        for node in ast.walk(ast.parse(ops.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "Operation"
                and len(node.args) >= 3
                and isinstance(node.args[0], ast.Attribute)
            ):
                continue
            name = node.args[0].attr
            method, path = (a.value for a in node.args[1:3])
            rows.append(
                f"| `{name}` | `{method} {prefix}{path}` | `{cli} {name.replace('_', '-')}` | "
                f"`{name}` | {_cell(docs.get(name, ''))} |"
            )
        files["registry/operations.md"] = "\n".join(rows) + "\n"
    return files


def _operation_names(path: Path) -> list[str]:
    """Service method names in an operation table (``Operation(Service.<name>, ...)``)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "Operation"
            and node.args
            and isinstance(node.args[0], ast.Attribute)
        ):
            names.append(node.args[0].attr)
    return names


# --------------------------------------------------------------------------- template


def _tree(project: Path) -> list[str]:
    skip = {".venv", ".git", "__pycache__", ".data"}
    return sorted(
        str(p.relative_to(project))
        for p in project.rglob("*")
        if p.is_file() and not skip.intersection(p.relative_to(project).parts)
    )


def _owned_patterns() -> list[str]:
    config = yaml.safe_load((REPO / "copier.yml").read_text(encoding="utf-8"))
    return [p.replace("{{ package_name }}", PACKAGE) for p in config.get("_skip_if_exists", [])]


def _owner(path: str, owned: list[str]) -> str:
    from fnmatch import fnmatch

    if path == ".copier-answers.yml":
        return "Copier"
    return "you" if any(fnmatch(path, pattern) for pattern in owned) else "template"


def _questions() -> str:
    config = yaml.safe_load((REPO / "copier.yml").read_text(encoding="utf-8"))
    rows = ["| question | what it asks | default | allowed |", "| --- | --- | --- | --- |"]
    for key, spec in config.items():
        if key.startswith("_") or not isinstance(spec, dict) or spec.get("when") is False:
            continue
        choices = spec.get("choices")
        if isinstance(choices, dict):
            allowed = ", ".join(f"`{v}`" for v in choices.values())
        elif isinstance(choices, list):
            allowed = ", ".join(f"`{v}`" for v in choices)
        else:
            allowed = "checked by a validator" if spec.get("validator") else "any"
        default = str(spec.get("default", ""))
        if "strftime" in default:
            shown = "the current year"
        elif "{{" in default:
            shown = "derived from the answers above"
        else:
            shown = f"`{_cell(default)}`"
        rows.append(f"| `{key}` | {_cell(spec.get('help', ''))} | {shown} | {allowed} |")
    return "\n".join(rows) + "\n"


def _error_table(errors_py: Path, *extra: Path) -> str:
    rows = ["| code | title | HTTP status | CLI exit code | defined in |", "| --- | --- | --- | --- | --- |"]
    for path in (errors_py, *extra):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            attrs = {}
            for stmt in node.body:
                target = getattr(stmt, "target", None) or (getattr(stmt, "targets", None) or [None])[0]
                value = getattr(stmt, "value", None)
                if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
                    attrs[target.id] = value.value
            if "code" in attrs and node.name != "DomainError":
                where = "/".join(path.parts[-2:])
                rows.append(
                    f"| `{attrs['code']}` | {attrs.get('title', '')} | "
                    f"{attrs.get('http_status', '')} | {attrs.get('exit_code', '')} | "
                    f"`{where}` |"
                )
    return "\n".join(rows) + "\n"


def _settings_table(projects: dict[str, Path]) -> str:
    """Environment variables of the rendered ``Settings`` class, with the tiers that have them."""
    fields: dict[str, dict[str, str]] = {}
    prefix = PACKAGE.upper() + "_"
    for tier in TIERS:
        path = projects[tier] / "src" / PACKAGE / "core" / "settings.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
        for stmt in cls.body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            default, description = stmt.value, ""
            if isinstance(stmt.value, ast.Call) and getattr(stmt.value.func, "id", "") == "Field":
                default = next((kw.value for kw in stmt.value.keywords if kw.arg == "default"), None)
                description = next(
                    (
                        kw.value.value
                        for kw in stmt.value.keywords
                        if kw.arg == "description" and isinstance(kw.value, ast.Constant)
                    ),
                    "",
                )
            if isinstance(default, ast.Call) and default.args:  # Path(".data") -> .data
                default = default.args[0]
            if isinstance(default, ast.Constant):
                shown = "unset" if default.value is None else str(default.value)
            else:
                shown = ast.unparse(default) if default is not None else ""
            entry = fields.setdefault(stmt.target.id, {"default": shown, "description": description, "tiers": ""})
            entry["tiers"] = entry["tiers"] or tier
    rows = ["| variable | default | meaning | from tier |", "| --- | --- | --- | --- |"]
    for name, entry in fields.items():
        rows.append(
            f"| `{prefix}{name.upper()}` | `{_cell(entry['default'])}` | "
            f"{_cell(entry['description'])} | {entry['tiers'].capitalize()} |"
        )
    return "\n".join(rows) + "\n"


def _placeholder(what: str) -> str:
    return f"(not rendered by the template yet: {what})\n"


def part_template(work: Path) -> Files:
    files: Files = {}
    trees: dict[str, list[str]] = {}
    projects: dict[str, Path] = {}
    messages: dict[str, str] = {}
    for tier in TIERS:
        parent = work / f"render-{tier}"
        parent.mkdir()
        projects[tier], messages[tier] = render(tier, parent)
        trees[tier] = _tree(projects[tier])

    owned = _owned_patterns()
    everything = sorted(set().union(*trees.values()), key=lambda p: (p.count("/"), p))
    rows = ["| file | owner | Essential | Recommended | Advanced |", "| --- | --- | :-: | :-: | :-: |"]
    for path in sorted(everything):
        marks = " | ".join("✓" if path in trees[t] else "" for t in TIERS)
        rows.append(f"| `{path}` | {_owner(path, owned)} | {marks} |")
    files["template/tier-matrix.md"] = "\n".join(rows) + "\n"

    config = yaml.safe_load((REPO / "copier.yml").read_text(encoding="utf-8"))
    labels = {value: label for label, value in config["tier"]["choices"].items()}
    summary = [
        "| tier | what it renders (from the tier question) | files | new at this tier |",
        "| --- | --- | :-: | --- |",
    ]
    previous: set[str] = set()
    for tier in TIERS:
        label = labels.get(tier, tier).split(":", 1)[-1].strip()
        new = sorted(set(trees[tier]) - previous)
        listed = "all of them" if not previous else ", ".join(f"`{p}`" for p in new)
        summary.append(f"| {tier.capitalize()} | {_cell(label)} | {len(trees[tier])} | {listed} |")
        previous = set(trees[tier])
    files["template/tier-summary.md"] = "\n".join(summary) + "\n"
    files["template/owned-files.md"] = "\n".join(f"- `{p}`" for p in owned) + "\n"
    files["template/questions.md"] = _questions()
    files["template/copy-message.txt"] = messages["recommended"] + "\n"
    files["template/settings.md"] = _settings_table(projects)

    rec = projects["recommended"]
    pkg = rec / "src" / PACKAGE
    files["template/recommended/operations.py"] = (pkg / "operations.py").read_text()
    files["template/recommended/domain-errors.py"] = (pkg / "domain" / "errors.py").read_text()
    files["template/recommended/AGENTS.md"] = (rec / "AGENTS.md").read_text()
    files["template/recommended/error-table.md"] = _error_table(pkg / "core" / "errors.py")

    answers = yaml.safe_load((rec / ".copier-answers.yml").read_text())
    answers["_commit"] = "<template commit>"
    answers["_src_path"] = "<path or URL of chora-base>"
    files["template/recommended/copier-answers.yml"] = (
        "# Changes here will be overwritten by Copier; NEVER EDIT MANUALLY\n" + yaml.safe_dump(answers, sort_keys=True)
    )

    ci = rec / ".github" / "workflows" / "ci.yml"
    files["template/recommended/ci.yml"] = ci.read_text() if ci.exists() else _placeholder(".github/workflows/ci.yml")
    openapi = rec / "openapi.json"
    if openapi.exists():
        doc = json.loads(openapi.read_text())
        route = doc.get("paths", {}).get("/notes/{slug}", {}).get("get", {})
        files["template/recommended/openapi-get-note.json"] = (
            json.dumps({"paths": {"/notes/{slug}": {"get": route}}}, indent=2) + "\n"
        )
    else:
        files["template/recommended/openapi-get-note.json"] = '"not rendered by the template yet"\n'
    return files


# --------------------------------------------------------------------------- interfaces


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _server(bin_dir: Path, env: dict[str, str], port: int, log: Path) -> Iterator[None]:
    cli = bin_dir / PROJECT_NAME
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            [str(cli), "serve", "--port", str(port)], env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"server did not start:\n{log.read_text()}") from None
                    time.sleep(0.2)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


_REQUEST_ID = re.compile(r'("request_id": ")[0-9a-f]{32}(?=")')


def run_examples(bin_dir: Path, work: Path) -> dict[str, list[dict[str, str]]]:
    """Run every command of ``interface_examples.yaml``; return, per example, its steps
    (setup first) with the output each printed, as the docs show them."""
    spec = yaml.safe_load(EXAMPLES_FILE.read_text(encoding="utf-8"))
    port = _free_port()
    real_url = f"http://127.0.0.1:{port}"
    scratch = work / "scratch"
    scratch.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(PACKAGE.upper() + "_") and k not in {"PYTHONPATH", "VIRTUAL_ENV"}
    }
    env.update(
        {
            f"{PACKAGE.upper()}_DATA_DIR": str(scratch / "data"),
            "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            "NO_COLOR": "1",
            "COLUMNS": "100",
        }
    )

    def run(kind: str, text: str) -> str:
        live = text.replace(spec["url"], real_url)
        if kind == "shell":
            argv = ["bash", "-c", live]
        else:
            code = scratch / "example.py"
            code.write_text(live)
            argv = [str(bin_dir / "python"), str(code)]
        proc = subprocess.run(
            argv, cwd=scratch, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120
        )
        if proc.returncode != 0:
            raise RuntimeError(f"example failed (exit {proc.returncode}):\n{text}\n{proc.stdout}")
        output = proc.stdout.replace(real_url, spec["url"]).replace(f"127.0.0.1:{port}", "127.0.0.1:8000")
        # Request ids are fresh on every run; a fixed one keeps the committed snippet stable.
        return _REQUEST_ID.sub(r"\g<1>5f0c1e2d3b4a59687766554433221100", output)

    results: dict[str, list[dict[str, str]]] = {}
    with _server(bin_dir, env, port, work / "server.log"):
        for example in spec["examples"]:
            steps = []
            for command in example.get("setup", []):
                steps.append({"label": "setup", "kind": "shell", "text": command, "output": run("shell", command)})
            for step in example["steps"]:
                kind = "shell" if "shell" in step else "python"
                steps.append(
                    {"label": step["label"], "kind": kind, "text": step[kind], "output": run(kind, step[kind])}
                )
            results[example["name"]] = steps
    return results


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line else "" for line in text.rstrip("\n").split("\n"))


def examples_markdown(results: dict[str, list[dict[str, str]]]) -> Files:
    files: Files = {}
    for name, steps in results.items():
        out: list[str] = []
        setup = [s for s in steps if s["label"] == "setup"]
        if setup:
            out += [
                f"With the server running (`{PROJECT_NAME} serve`) and a note created "
                "through the CLI (both use the same store):",
                "",
                "```console",
            ]
            for s in setup:
                out += [f"$ {s['text']}", s["output"].rstrip("\n")]
            out += ["```", ""]
        for s in steps:
            if s["label"] == "setup":
                continue
            out += [f'=== "{s["label"]}"', ""]
            if s["kind"] == "shell":
                block = f"$ {s['text']}\n{s['output']}"
                out += [_indent(f"```console\n{block.rstrip()}\n```"), ""]
            else:
                out += [
                    _indent(f"```python\n{s['text'].rstrip()}\n```"),
                    "",
                    "    Output:",
                    "",
                    _indent(f"```text\n{s['output'].rstrip()}\n```"),
                    "",
                ]
        files[f"interfaces/{name}.md"] = "\n".join(out).rstrip("\n") + "\n"
    return files


def part_interfaces(work: Path) -> Files:
    spec = yaml.safe_load(EXAMPLES_FILE.read_text(encoding="utf-8"))
    parent = work / "render-examples"
    parent.mkdir()
    answers = {k: v for k, v in spec["project"].items() if k not in {"project_name", "tier"}}
    project, _ = render(spec["project"]["tier"], parent, **answers)
    bin_dir = install(project)
    return examples_markdown(run_examples(bin_dir, work))


# --------------------------------------------------------------------------- adoption


def example_projects() -> list[Path]:
    root = REPO / "examples"
    return sorted(p for p in root.iterdir() if (p / ".copier-answers.yml").is_file()) if root.is_dir() else []


def sap_tiers(results: list, slug: str) -> dict[str, str]:
    """Per tier: "met", "not met: IDs" (failing checks of this tier or below) or "no checks"."""
    verdict: dict[str, str] = {}
    failed: list[str] = []
    for tier in TIERS:
        at_tier = [r for r in results if r.family == slug and r.tier == tier and r.status != "not-run"]
        failed += [r.id for r in at_tier if not r.counts_as_met]
        if failed:  # a tier includes every tier below it
            verdict[tier] = "not met: " + ", ".join(failed)
        elif not at_tier:
            verdict[tier] = "no checks"
        else:
            verdict[tier] = "met"
    return verdict


def part_adoption(work: Path) -> Files:
    from chora_base.checker.runner import run_checks

    reports = {}
    versions: dict[str, str] = {}
    for project in example_projects():
        answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
        versions[project.name] = str(answers.get("_commit", ""))
        copy = work / "examples" / project.name
        shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
        bin_dir = install(copy)
        reports[project.name] = run_checks(copy, python=bin_dir / "python")

    files: Files = {}
    symbol = {"met": "✓ met", "no checks": "no checks at this tier"}
    for sap in SAPS:
        if not reports:
            files[f"adoption/{sap.slug}.md"] = "No projects in `examples/` yet, so there is nothing to judge.\n"
            continue
        rows = [
            "| project | template version | declared tier | Essential | Recommended | Advanced |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name, report in reports.items():
            verdict = sap_tiers(report.results, sap.slug)
            cells = " | ".join(symbol.get(verdict[t], "✗ " + verdict[t]) for t in TIERS)
            version = versions.get(name) or "unknown"
            rows.append(f"| `examples/{name}` | `{version}` | {report.declared_tier or 'none'} | {cells} |")
        rows += [
            "",
            "✓ met: every check of this SAP at this tier and below passes. "
            "✗ names the checks of this tier or below that fail. "
            '"no checks at this tier": this SAP has none there yet.',
        ]
        files[f"adoption/{sap.slug}.md"] = "\n".join(rows) + "\n"
    return files


# --------------------------------------------------------------------------- driver


def part_composition(work: Path) -> Files:
    """The composition SAP's worked example, run for real (``chora_base.docs.composition``)."""
    from chora_base.docs.composition import part_composition as run

    return run(work)


PARTS: dict[str, tuple[Callable[[Path], Files], tuple[str, ...]]] = {
    "checks": (part_checks, ("checks.md", "dod/", "sap-index.md")),
    "status": (part_status, ("registry-status.md", "registry/", "template-releases.md")),
    "template": (part_template, ("template/",)),
    "interfaces": (part_interfaces, ("interfaces/",)),
    "adoption": (part_adoption, ("adoption/",)),
    "bootstrap": (part_bootstrap, ("bootstrap/",)),
    "composition": (part_composition, ("composition/",)),
}


def generate(part: str) -> Files:
    func, _ = PARTS[part]
    with tempfile.TemporaryDirectory(prefix=f"chora-docs-{part}-") as tmp:
        return func(Path(tmp))


def owned_files(part: str, out: Path = OUT) -> set[str]:
    """Files currently under ``out`` that ``part`` owns."""
    found = set()
    for prefix in PARTS[part][1]:
        if prefix.endswith("/"):
            base = out / prefix
            found |= {str(p.relative_to(out)) for p in base.rglob("*") if p.is_file()} if base.is_dir() else set()
        elif (out / prefix).is_file():
            found.add(prefix)
    return found


def stale(part: str, files: Files, out: Path = OUT) -> list[str]:
    """Differences between freshly generated ``files`` and what is committed under ``out``."""
    problems = []
    for rel, text in sorted(files.items()):
        path = out / rel
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != text:
            diff = "".join(
                difflib.unified_diff(
                    (current or "").splitlines(True), text.splitlines(True), f"committed/{rel}", f"generated/{rel}", n=1
                )
            )
            problems.append(f"{rel} is stale:\n{diff}" if current is not None else f"{rel} is missing")
    for rel in sorted(owned_files(part, out) - set(files)):
        problems.append(f"{rel} is no longer generated; delete it")
    return problems


def write(part: str, files: Files, out: Path = OUT) -> None:
    for rel in owned_files(part, out) - set(files):
        (out / rel).unlink()
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chora_base.docs.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", default=",".join(PARTS), help=f"comma-separated parts (default: all of {', '.join(PARTS)})"
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}")
    failed = False
    for part in parts:
        started = time.perf_counter()
        files = generate(part)
        if args.check:
            problems = stale(part, files)
            for problem in problems:
                print(problem)
            failed |= bool(problems)
        else:
            write(part, files)
        print(f"{part}: {len(files)} files, {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if failed:
        print("Stale generated docs: run python -m chora_base.docs.generate", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
