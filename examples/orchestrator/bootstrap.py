#!/usr/bin/env python3
"""Phase 0 of the bootstrap: one file, nothing but Python >= 3.11.

    python3 bootstrap.py stack.yaml              # install the orchestrator, then apply the stack
    python3 bootstrap.py stack.yaml status       # any orchestrator command: plan, status, logs, down, reset

Phase 1: creates the runtime environment (``.orchestrator/`` beside the stack file, or
``--runtime DIR``), installs uv and the orchestrator into it (from the folder this file sits in,
or ``--from REQUIREMENT``), once; later runs reuse it. Then it hands over to
``orchestrator <command> --stack-file stack.yaml`` (Phases 2 and 3) and exits with its code.
After a successful ``reset`` that leaves no stack behind, the runtime environment is removed
too, so nothing this file created remains.

Standard library only, on purpose: this runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMMANDS = ("apply", "plan", "status", "logs", "down", "reset")


def _fail(message: str, code: int = 2) -> None:
    print(f"bootstrap: {message}", file=sys.stderr)
    raise SystemExit(code)


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it (shorter, and the same on every machine)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        _fail(f"{what} failed (exit {proc.returncode}):\n{tail}", 3)


def ensure_runtime(runtime: Path, source: str) -> Path:
    """Phase 1: the runtime environment with uv and the orchestrator; reused while unchanged."""
    bin_dir = runtime / "venv" / "bin"
    stamp = runtime / "installed"
    wanted = hashlib.sha256(source.encode()).hexdigest()
    local = Path(source)
    if local.is_dir() and (local / "pyproject.toml").is_file():
        wanted = hashlib.sha256((local / "pyproject.toml").read_bytes() + source.encode()).hexdigest()
    orchestrator = bin_dir / "orchestrator"
    if orchestrator.exists() and stamp.exists() and stamp.read_text() == wanted:
        return bin_dir
    print(f"bootstrap: installing the orchestrator into {_shown(runtime)}", file=sys.stderr)
    runtime.mkdir(parents=True, exist_ok=True)
    python = bin_dir / "python"
    uv = shutil.which("uv")
    if uv:  # uv on the machine already: the fast path
        _run([uv, "venv", "-q", "--clear", "--python", sys.executable, str(runtime / "venv")], "uv venv")
        _run([uv, "pip", "install", "-q", "-p", str(python), "uv"], "installing uv")
    else:
        venv.EnvBuilder(with_pip=True, clear=True).create(runtime / "venv")
        _run([str(python), "-m", "pip", "install", "-q", "uv"], "installing uv")
    target = ["-e", str(local)] if local.is_dir() else [source]
    _run([str(bin_dir / "uv"), "pip", "install", "-q", "-p", str(python), *target], "installing the orchestrator")
    stamp.write_text(wanted)
    return bin_dir


def main(argv: list[str] | None = None) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file must run (and say so) on any python3
        _fail("Python 3.11 or newer is needed")
    parser = argparse.ArgumentParser(description="Bring a stack of capability servers up from nothing.")
    parser.add_argument("stack", type=Path, help="the stack file (YAML)")
    parser.add_argument("command", nargs="?", default="apply", choices=COMMANDS)
    parser.add_argument("--runtime", type=Path, help="where the orchestrator is installed (default: .orchestrator/)")
    parser.add_argument("--from", dest="source", default=str(HERE), help="what to install (path or requirement)")
    args, rest = parser.parse_known_args(argv)
    stack = args.stack.resolve()
    if not stack.is_file():
        _fail(f"no stack file at {args.stack}")
    runtime = (args.runtime or stack.parent / ".orchestrator").resolve()
    bin_dir = ensure_runtime(runtime, args.source)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.setdefault("ORCHESTRATOR_DATA_DIR", str(runtime / "data"))
    env.setdefault("UV", str(bin_dir / "uv"))
    cmd = [str(bin_dir / "orchestrator"), args.command, *rest, "--stack-file", str(stack)]
    code = subprocess.run(cmd, env=env, check=False).returncode
    stacks = Path(env["ORCHESTRATOR_DATA_DIR"]) / "stacks"
    if args.command == "reset" and code == 0 and not (stacks.exists() and any(stacks.iterdir())):
        shutil.rmtree(runtime, ignore_errors=True)
        print(f"bootstrap: removed the runtime environment {_shown(runtime)}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
