"""The ``bootstrap`` part of the generated docs: the bootstrap SAP's console blocks, captured
from a real stack (the registry example and one server rendered from the template) brought up,
inspected, exported and removed by the orchestrator example.

What differs from run to run is made stable before it is written: ports are fixed in the stack
file, process ids are numbered in order of appearance (same width, so tables stay aligned) and
apply's timings line is cut to its shape. The order of progress lines is only shown where it is
fixed (a converged apply walks the servers in dependency order).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from chora_base.render import REPO, install, render, uv_bin

Files = dict[str, str]
#: ports of the docs stack; fixed so the captured output is the same on every run, and below the
#: kernel's ephemeral range (32768-60999), so no outgoing connection can hold one by chance
REGISTRY_PORT, NOTES_PORT = 27311, 27312


def _stack(notes: Path) -> str:
    return (
        "name: demo\n"
        "registry:\n"
        f"  source: {REPO / 'examples' / 'manifest'}\n"
        f"  port: {REGISTRY_PORT}\n"
        "servers:\n"
        "  notes:\n"
        f"    source: {notes}\n"
        f"    port: {NOTES_PORT}\n"
    )


class _Stable:
    """Rewrites what changes from run to run (pids, timings, folders) into stable text."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.pids: dict[str, str] = {}

    def pid(self, match: re.Match[str]) -> str:
        real = match.group(0)
        if real not in self.pids:
            self.pids[real] = str(10000 + len(self.pids) + 1)  # 10001, 10002, ... in order of appearance
        return self.pids[real]

    def __call__(self, text: str, pid_fields: bool = True) -> str:
        text = text.replace(str(self.work), ".")
        text = text.replace(str(REPO / "examples"), "..")
        text = re.sub(r'"seconds": [0-9.]+', '"seconds": …', text)
        if pid_fields:
            text = re.sub(r'(?<="pid": )\d+', self.pid, text)
            text = re.sub(r"(?<=process \[)\d+", self.pid, text)
        return text

    def table(self, lines: list[str]) -> list[str]:
        """The status table with its pids numbered, aligned again (a pid's width varies)."""
        rows = [re.split(r" {2,}", line.removeprefix("table: ").rstrip()) for line in lines]
        pid = rows[0].index("pid")
        for row in rows[1:]:
            if row[pid].isdigit():
                row[pid] = self.pid(re.match(r"\d+", row[pid]))  # type: ignore[arg-type]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        out = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
        return ["table: " + out[0], *out[1:]]


def _shorten_timings(text: str) -> str:
    """apply's timings list is long, in the order parts ended, with figures that differ on
    every run: keep its shape (the first entry, by server and part)."""
    import json

    lines = []
    for line in text.splitlines():
        if line.startswith("timings: [") and line != "timings: []":
            entries = sorted(json.loads(line[len("timings: ") :]), key=lambda t: (t["server"], t["part"]))
            line = "timings: [" + json.dumps(entries[0]) + ", …]"
        lines.append(line)
    return "\n".join(lines)


def part_bootstrap(work: Path) -> Files:
    notes = render("essential", work / "notes", project_name="notes")
    copy = work / "orchestrator-src"
    shutil.copytree(
        REPO / "examples" / "orchestrator", copy, ignore=shutil.ignore_patterns(".venv", ".data", "__pycache__")
    )
    python = install(copy, extras=None)
    cli = python.with_name("orchestrator")
    (work / "stack.yaml").write_text(_stack(notes))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRATOR_", "VIRTUAL_ENV"))}
    env |= {"ORCHESTRATOR_DATA_DIR": str(work / ".orchestrator"), "UV": uv_bin()}
    stable = _Stable(work)

    def run(*args: str, stderr: bool = False, expect: int = 0) -> str:
        proc = subprocess.run(
            [str(cli), *args], capture_output=True, text=True, env=env, cwd=work, timeout=600, check=False
        )
        if proc.returncode != expect:
            raise RuntimeError(f"orchestrator {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
        shown = (proc.stderr if stderr else "") + proc.stdout
        return f"$ orchestrator {' '.join(args)}\n" + stable(_shorten_timings(shown.rstrip()))

    def block(*parts: str) -> str:
        return "```console\n" + "\n".join(parts) + "\n```\n"

    files: Files = {}
    try:
        files["bootstrap/plan.md"] = block(run("plan", "--stack-file", "stack.yaml"))
        files["bootstrap/apply-cold.md"] = block(run("apply", "--stack-file", "stack.yaml"))
        files["bootstrap/apply-converged.md"] = block(run("apply", "--stack-file", "stack.yaml", stderr=True))
        status = run("status", "--stack-file", "stack.yaml")
        lines = [line for line in status.splitlines() if "servers: [" not in line]
        at = next(i for i, line in enumerate(lines) if line.startswith("table: "))
        files["bootstrap/status.md"] = block("\n".join(lines[:at] + stable.table(lines[at:])))
        exported = run("export", "--stack-file", "stack.yaml", "--format", "kubernetes")
        kinds: dict[str, int] = {}
        for path in (work / ".orchestrator" / "stacks" / "demo" / "export" / "kubernetes").glob("*.yaml"):
            for kind in re.findall(r"^kind: (\w+)$", path.read_text(), flags=re.M):
                kinds[kind] = kinds.get(kind, 0) + 1
        counted = "\n".join(f"{n:7d} kind: {k}" for k, n in sorted(kinds.items()))
        grep = "$ grep '^kind' .orchestrator/stacks/demo/export/kubernetes/demo.yaml | sort | uniq -c"
        files["bootstrap/export-kubernetes.md"] = block(exported, grep, counted)
        files["bootstrap/down.md"] = block(run("down", "--stack-file", "stack.yaml"))
    finally:
        files["bootstrap/reset.md"] = block(run("reset", "--stack-file", "stack.yaml"))
    return files
