"""The `gateway` command line, generated from the operation table.

Start-up cost is kept low on purpose: `--help` loads only Typer (what it lists comes from a
small cache, see `cli_index.py`), a domain command adds pydantic and the domain, and FastAPI,
uvicorn, httpx and the MCP SDK are imported only by the commands that need them (`serve` and
the other built-in commands are in `cli_builtins.py`).

Every problem reaches the user as one line, `error[<code>]: <what> (hint: <what to do>)` on
stderr (with `--json`, the problem object on stdout), and an exit code from the table that
`--help` prints (see core/errors.py); never as a traceback.
"""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Callable, Sequence
from typing import Any, Optional

import typer
import typer.main
from typer.core import TyperGroup

from ..core.about import DESCRIPTION, NAME, VERSION
from .cli_index import index

if typing.TYPE_CHECKING:
    from pydantic import BaseModel

    from ..core.operation import Operation
    from ..core.settings import Settings

PACKAGE = "gateway"
ENV_PREFIX = "GATEWAY_"
URL_ENV = ENV_PREFIX + "URL"
EXIT_MEANINGS = {0: "success", 1: "unexpected error (the message names a log file)", 2: "usage error"}


class OperationGroup(TyperGroup):
    """The root command group: operation commands are built from the table on first use, the
    built-in ones (`serve`, `mcp`, `operations`) when one of them is named, and every failure of
    a run is reported here as one line with its exit code."""

    def _load(self, cmd_name: str) -> None:
        """Build the command named: one operation's (only the one being run pays for its model),
        or else the built-in ones, all at once."""
        from ..operations import OPERATIONS

        for op in OPERATIONS:
            if op.cli_name == cmd_name:
                table = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)
                table.command(name=op.cli_name, help=op.description)(_command(op))
                self.commands[cmd_name] = typer.main.get_group(table).commands[cmd_name]
                return
        from .cli_builtins import commands

        built = commands()
        if cmd_name in built:
            self.commands.update(built)

    def list_commands(self, ctx: Any) -> list[str]:
        listed = [*index()["commands"], *index()["builtins"]]
        return [*listed, *(name for name in self.commands if name not in listed)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        cached = index()
        rows = [*cached["commands"].items(), *cached["builtins"].items()]
        rows += [
            (name, cmd.get_short_help_str(limit=formatter.width - 30))
            for name, cmd in self.commands.items()
            if name not in cached["commands"] and name not in cached["builtins"] and not cmd.hidden
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        codes: dict[int, list[str]] = {}
        for exit_code, code in index()["exit_codes"]:
            codes.setdefault(exit_code, []).append(code)
        rows = [(str(n), EXIT_MEANINGS.get(n, "")) for n in EXIT_MEANINGS if n not in codes]
        rows += [(str(n), ", ".join(names)) for n, names in codes.items()]
        with formatter.section("Exit codes"):
            formatter.write_dl(sorted(rows, key=lambda row: int(row[0])))

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, *a: Any, **kw: Any
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        standalone = kw.pop("standalone_mode", True)
        try:
            code = super().main(argv, prog_name, *a, standalone_mode=False, **kw)
        except BaseException as exc:  # noqa: BLE001 - this is the one place every failure is reported
            if isinstance(exc, SystemExit | KeyboardInterrupt | GeneratorExit):
                raise
            from .cli_faults import report

            code = report(exc, "--json" in argv, PACKAGE)
        code = code if isinstance(code, int) else 0
        if not standalone:
            return code
        sys.exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"{NAME} {VERSION}")
        raise typer.Exit()


app = typer.Typer(
    cls=OperationGroup,
    name="gateway",
    help=DESCRIPTION,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _settings(**options: Any) -> Settings:
    """The settings of this run (options given on the command line win over the environment);
    a bad value of any of them is one InvalidSettings line naming the variable or option."""
    from .cli_faults import load_settings

    return load_settings(**options)


def _open_service(settings: Settings) -> Any:
    """The domain service on the local store; folder and store faults become one line."""
    from ..domain.service import Service

    try:
        return Service.from_settings(settings)
    except Exception as exc:  # noqa: BLE001 - every way a store can fail to open is reported
        from .cli_faults import store_problem

        raise store_problem(exc, settings, ENV_PREFIX) from None


def _run(op: Operation, raw: dict[str, Any], url: str | None, url_source: str) -> BaseModel:
    settings = _settings()
    from ..core import tracing

    if tracing.wanted_by_cli():  # else OpenTelemetry is never imported: start-up stays lean
        tracing.setup()
        tracing.attach_cli_parent()  # TRACEPARENT: this command joins the caller's trace
    if url:
        from .cli_faults import check_url

        check_url(url, url_source)
        from .client import Client

        with Client(url) as client:
            return client.call(op.name, raw)
    from ..core.observe import run_operation
    from .cli_faults import crash_log

    crash_log(PACKAGE)  # an unexpected error inside the operation logs its traceback there
    return run_operation(op, _open_service(settings), raw, "cli")


def _run_long(op: Operation, raw: dict[str, Any], url: str | None, url_source: str, no_wait: bool) -> BaseModel:
    """A long-running operation: followed with a progress display (see cli_longrun.py)."""
    from . import cli_longrun

    settings = _settings()
    if url:
        from .cli_faults import check_url

        check_url(url, url_source)
        return cli_longrun.run_remote(op, raw, url, no_wait)
    from .cli_faults import crash_log

    crash_log(PACKAGE)
    return cli_longrun.run_local(op, raw, settings, _open_service(settings), no_wait)


def _print_result(result: BaseModel, as_json: bool) -> None:
    import json

    data = result.model_dump(mode="json")
    if as_json:
        typer.echo(json.dumps(data))
        return
    from .cli_faults import printable

    for key, value in data.items():  # text as it is (escapes shown, not obeyed); the rest as JSON
        typer.echo(f"{key}: {printable(value) if isinstance(value, str) else json.dumps(value)}")


def example_argv(op: Operation, raw: dict[str, Any], as_json: bool = True) -> list[str]:
    """The command-line arguments (after the program name) that run `op` with input `raw`.

    The parity tests replay the table's examples through it, so what the docs print with
    `shlex.join(["gateway", *example_argv(op, raw)])` is known to run.
    """
    from .cli_params import example_argv as argv

    return argv(op, raw, as_json)


def _command(op: Operation) -> Callable[..., None]:
    """Build a function whose signature Typer turns into the command's arguments and options.

    Every value reaches the operation as text and is validated by the operation's own input
    model, so a bad value gets the same `validation_error` here as over REST and MCP.
    """
    from .cli_params import parameters, typer_parameter

    described = parameters(op)
    params = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)]
    for name, param in described.items():
        annotation, default = typer_parameter(param, name in op.path_params)
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

    if op.long_running:
        params.append(
            inspect.Parameter(
                "no_wait",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=bool,
                default=typer.Option(False, "--no-wait", help="Start it on the server (--url), print its id, return"),
            )
        )

    def command(ctx: typer.Context, **kwargs: Any) -> None:
        as_json = kwargs.pop("as_json")
        url = kwargs.pop("url")
        no_wait = kwargs.pop("no_wait", False)
        from_env = url is not None and getattr(ctx.get_parameter_source("url"), "name", "") == "ENVIRONMENT"
        raw = {k: described[k].convert(v) for k, v in kwargs.items() if v is not None}
        if op.long_running:
            result = _run_long(op, raw, url, URL_ENV if from_env else "--url", no_wait)
            if no_wait and not as_json:
                typer.echo(result.id)  # the operation's id, for `operations get/wait/cancel`
                return
            _print_result(result, as_json)
            return
        _print_result(_run(op, raw, url, URL_ENV if from_env else "--url"), as_json)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__name__ = op.name
    command.__doc__ = op.description
    return command


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_version, help="Print the name and version, then exit"
    ),
) -> None:
    # A callback keeps the root a command group: no command is registered on it eagerly.
    pass


def main() -> None:
    app()
