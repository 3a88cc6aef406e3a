"""The `orchestrator` command line, generated from the operation table.

Start-up cost is kept low on purpose: `--help` loads only Typer (operation names come from a
small cache, see `operation_index`), a domain command adds pydantic and the domain, and
FastAPI, uvicorn, httpx and the MCP SDK are imported only by the commands that need them.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import typer
import typer.main
from typer.core import TyperGroup

from ..core.about import DESCRIPTION
from ..core.errors import DomainError, validation_failed

if typing.TYPE_CHECKING:
    from pydantic import BaseModel

    from ..core.operation import Operation

URL_ENV = "ORCHESTRATOR_URL"
PACKAGE_DIR = Path(__file__).resolve().parents[1]
INDEX_FILE = PACKAGE_DIR / "__pycache__" / "cli-index.json"


def operation_index() -> dict[str, str]:
    """CLI name -> one-line summary of every operation, without importing the domain if possible.

    Listing commands is the common case (`--help`), and importing pydantic and the domain costs
    more than the whole start-up budget, so names and summaries are cached next to the bytecode.
    Any change to a source file of the package rebuilds the cache; running a command always
    loads the real operation table.
    """
    stamp = sorted([str(p.relative_to(PACKAGE_DIR)), p.stat().st_mtime_ns] for p in PACKAGE_DIR.rglob("*.py"))
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        cached = json.loads(INDEX_FILE.read_text())
        if cached["stamp"] == stamp:
            return dict(cached["commands"])
    from ..operations import OPERATIONS

    commands = {op.cli_name: op.summary for op in OPERATIONS}
    with contextlib.suppress(OSError):  # a read-only install simply goes without the cache
        INDEX_FILE.parent.mkdir(exist_ok=True)
        partial = INDEX_FILE.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps({"stamp": stamp, "commands": commands}))
        partial.replace(INDEX_FILE)
    return commands


class OperationGroup(TyperGroup):
    """The root command group: operation commands are built from the table on first use."""

    def _load_operation(self, cmd_name: str) -> None:
        """Build the command of one operation (only the one being run pays for its model)."""
        from ..operations import OPERATIONS

        for op in OPERATIONS:
            if op.cli_name == cmd_name:
                table = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)
                table.command(name=op.cli_name, help=op.description)(_command(op))
                self.commands[cmd_name] = typer.main.get_group(table).commands[cmd_name]

    def list_commands(self, ctx: Any) -> list[str]:
        index = operation_index()
        return [*index, *(name for name in self.commands if name not in index)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            self._load_operation(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        index = operation_index()
        rows = list(index.items()) + [
            (name, cmd.get_short_help_str(limit=formatter.width - 30))
            for name, cmd in self.commands.items()
            if name not in index and not cmd.hidden
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    cls=OperationGroup,
    name="orchestrator",
    help=DESCRIPTION,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _is_bool(annotation: Any) -> bool:
    return annotation is bool or bool in typing.get_args(annotation)


def _run(op: Operation, raw: dict[str, Any], url: str | None) -> BaseModel:
    if url:
        from .client import Client

        with Client(url) as client:
            return client.call(op.name, raw)
    from ..core.observe import run_operation
    from ..core.settings import get_settings
    from ..domain.service import Service

    return run_operation(op, Service.from_settings(get_settings()), raw, "cli")


def _json_value(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise validation_failed([{"loc": [name], "msg": f"Malformed JSON: {exc}", "type": "json_invalid"}]) from None


def _print_result(result: BaseModel, as_json: bool) -> None:
    data = result.model_dump(mode="json")
    if as_json:
        typer.echo(json.dumps(data))
        return
    for key, value in data.items():
        typer.echo(f"{key}: {value if isinstance(value, str) else json.dumps(value)}")


def fail(error: DomainError, as_json: bool) -> typing.NoReturn:
    """Report a domain error the CLI way: message (or problem JSON) and the error's exit code."""
    if as_json:
        typer.echo(json.dumps(error.to_problem("urn:orchestrator:error")))
    else:
        typer.echo(f"error[{error.code}]: {error.detail}", err=True)
    raise typer.Exit(error.exit_code)


def _command(op: Operation) -> Callable[..., None]:
    """Build a function whose signature Typer turns into the command's arguments and options.

    Every value reaches the operation as text and is validated by the operation's own input
    model, so a bad value gets the same `validation_error` here as over REST and MCP.
    """
    from ..core.operation import is_list, is_structured

    params = []
    structured: set[str] = set()
    for name, field in op.input_model.model_fields.items():
        help_text = field.description or ""
        if name in op.path_params:
            default: Any = typer.Argument(..., help=help_text, show_default=False)
            annotation: Any = str
        elif is_list(field.annotation):
            default = typer.Option(
                None, f"--{name.replace('_', '-')}", help=help_text + " (repeatable)", metavar="TEXT"
            )
            annotation = Optional[list[str]]  # noqa: UP045 - Typer reads this annotation at runtime
        elif is_structured(field.annotation):
            default = typer.Option(None, f"--{name.replace('_', '-')}", help=help_text + " (JSON)", metavar="JSON")
            annotation = Optional[str]  # noqa: UP045
            structured.add(name)
        elif _is_bool(field.annotation):
            flag = name.replace("_", "-")
            default = typer.Option(None, f"--{flag}/--no-{flag}", help=help_text)
            annotation = Optional[bool]  # noqa: UP045
        else:
            default = typer.Option(
                None,
                f"--{name.replace('_', '-')}",
                help=help_text,
                metavar=getattr(field.annotation, "__name__", "TEXT").upper(),
            )
            annotation = Optional[str]  # noqa: UP045
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))
    params.append(
        inspect.Parameter(
            "as_json",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=bool,
            default=typer.Option(False, "--json", help="Print JSON instead of text"),
        )
    )
    params.append(
        inspect.Parameter(
            "url",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Optional[str],  # noqa: UP045
            default=typer.Option(
                None,
                "--url",
                envvar=URL_ENV,
                metavar="URL",
                help="Act on a running server at this URL instead of the local store",
            ),
        )
    )

    def command(**kwargs: Any) -> None:
        as_json = kwargs.pop("as_json")
        url = kwargs.pop("url")
        raw = {k: v for k, v in kwargs.items() if v is not None}
        try:
            for name in structured & raw.keys():
                raw[name] = _json_value(name, raw[name])
            result = _run(op, raw, url)
        except DomainError as exc:
            fail(exc, as_json)
        _print_result(result, as_json)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__name__ = op.name
    command.__doc__ = op.description
    return command


@app.callback()
def root() -> None:
    # A callback keeps the root a command group even when few commands are registered eagerly.
    pass


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, help="Interface to bind (default from settings)"),  # noqa: UP045
    port: Optional[int] = typer.Option(None, help="Port (default from settings)"),  # noqa: UP045
) -> None:
    """Serve the REST API and MCP over streamable HTTP at /mcp."""
    import uvicorn

    from ..core.settings import get_settings
    from .rest import create_app

    settings = get_settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


@app.command()
def mcp() -> None:
    """Serve MCP over stdio (for agent hosts that launch this program)."""
    from .mcp import run_stdio

    run_stdio()


def main() -> None:
    try:
        app()
    except DomainError as exc:  # raised outside a command, e.g. by settings
        fail(exc, "--json" in sys.argv)
