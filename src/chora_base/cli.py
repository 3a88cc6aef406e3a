"""The ``chora-base`` command: ``check`` today; room for more subcommands.

argparse rather than Typer keeps this tool's start-up light and its dependencies few;
each subcommand imports its own machinery only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chora_base import __version__

TIER_CHOICES = ("essential", "recommended", "advanced")
FORMATS = ("table", "json", "markdown", "html")


def _split(values: list[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _add_check(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check",
        help="report which SAP tier a capability server meets, check by check",
        description="Run the compliance checks on a project. Exits 1 when the declared tier "
        "(from .copier-answers.yml, or --tier) is not met, 2 on a usage or "
        "configuration error.",
    )
    p.add_argument("path", nargs="?", default=".", type=Path, help="project root (default: .)")
    p.add_argument("--tier", choices=TIER_CHOICES, help="judge against this tier instead of the declared one")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        dest="fmt",
        help="output format (markdown/html suit a CI job summary)",
    )
    p.add_argument(
        "--python",
        type=Path,
        help="interpreter of the project's environment for behaviour checks "
        "(default: <path>/.venv/bin/python, else the active $VIRTUAL_ENV, else this interpreter)",
    )
    p.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="IDS",
        help="run only these checks or prefixes (e.g. MI,ID001); repeatable",
    )
    p.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="IDS",
        help="skip these checks for this run; to skip one for good, give a reason "
        "in [tool.chora-base.ignore] of pyproject.toml",
    )
    p.add_argument(
        "--summary",
        type=Path,
        default=None,
        metavar="FILE",
        help="also append the Markdown report to FILE, e.g. "
        '"$GITHUB_STEP_SUMMARY" (one run gives both the log and the summary)',
    )
    p.set_defaults(func=_cmd_check)


def _cmd_check(args: argparse.Namespace) -> int:
    root: Path = args.path
    if not root.is_dir():
        print(f"chora-base check: {root} is not a directory", file=sys.stderr)
        return 2
    if args.python is not None and not args.python.exists():
        print(f"chora-base check: --python {args.python} does not exist", file=sys.stderr)
        return 2
    select, ignore = _split(args.select), _split(args.ignore)
    from chora_base.checker.start import start_probe

    # Started before the imports below, so the project's interpreter works meanwhile.
    probe = start_probe(root, args.python, select, ignore)

    from chora_base.checker.report import print_table, render, to_markdown
    from chora_base.checker.runner import ConfigError, run_checks

    try:
        report = run_checks(root, tier=args.tier, select=select, ignore=ignore, probe=probe)
    except ConfigError as exc:
        print(f"chora-base check: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.fmt == "table":
        print_table(report)
    else:
        sys.stdout.write(render(report, args.fmt))
    if args.summary is not None:
        with args.summary.open("a", encoding="utf-8") as f:
            f.write(to_markdown(report))
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chora-base", description="Tooling for chora-base capability servers.")
    parser.add_argument("--version", action="version", version=f"chora-base {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_check(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
