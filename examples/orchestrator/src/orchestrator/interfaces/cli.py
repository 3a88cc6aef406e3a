"""The `orchestrator` command line, generated from the operation table.

Start-up cost is kept low on purpose: `--help` loads only Typer (operation names come from a
small cache, see `operation_index`), a domain command adds pydantic and the domain, and
FastAPI, uvicorn, httpx and the MCP SDK are imported only by the commands that need them.

Every problem reaches the user as one line, `error[<code>]: <what> (hint: <what to do>)` on
stderr (with `--json`, the problem object on stdout), and an exit code from the table that
`--help` prints (see core/errors.py); never as a traceback.
"""

from __future__ import annotations

import contextlib
import inspect
import marshal
import os
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

import typer
import typer.main
from typer.core import TyperGroup

from ..core.about import DESCRIPTION, NAME, VERSION
from ..core.errors import DomainError, InvalidSettings

if typing.TYPE_CHECKING:
    from pydantic import BaseModel

    from ..core.operation import Operation
    from ..core.settings import Settings

PACKAGE = "orchestrator"
ENV_PREFIX = "ORCHESTRATOR_"
URL_ENV = ENV_PREFIX + "URL"
PACKAGE_DIR = Path(__file__).resolve().parents[1]
INDEX_FILE = PACKAGE_DIR / "__pycache__" / "cli-index.marshal"
EXIT_MEANINGS = {0: "success", 1: "unexpected error (the message names a log file)", 2: "usage error"}


_INDEX: dict[str, Any] = {}


def _index() -> dict[str, Any]:
    """Commands and exit codes of the table, without importing the domain if possible.

    Listing commands is the common case (`--help`), and importing pydantic and the domain costs
    more than the whole start-up budget, so names, summaries and the error codes are cached
    next to the bytecode. Any change to a source file of the package rebuilds the cache;
    running a command always loads the real operation table.
    """
    if _INDEX:  # help asks twice (commands, then exit codes)
        return _INDEX
    stamp = _source_stamp()
    # marshal, not json: the cache lives beside the bytecode of this very interpreter, and the
    # json module's import alone is a few percent of `--help`.
    with contextlib.suppress(OSError, ValueError, EOFError, KeyError, TypeError):
        cached = marshal.loads(INDEX_FILE.read_bytes())
        if cached["stamp"] == stamp:
            _INDEX.update({key: cached[key] for key in ("commands", "builtins", "exit_codes")})
            return _INDEX
    from ..core import longrun  # noqa: F401  (its errors reach every project through `operations`)
    from ..operations import OPERATIONS

    fresh = {
        "commands": {op.cli_name: op.summary for op in OPERATIONS},
        # The first paragraph of each help text, whole: one line per command, as operations get.
        "builtins": {name: " ".join((cmd.help or "").split("\n\n")[0].split()) for name, cmd in _builtins().items()},
        "exit_codes": sorted((cls.exit_code, code) for code, cls in DomainError.by_code.items()),
    }
    with contextlib.suppress(OSError):  # a read-only install simply goes without the cache
        INDEX_FILE.parent.mkdir(exist_ok=True)
        partial = INDEX_FILE.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(marshal.dumps({"stamp": stamp, **fresh}))
        partial.replace(INDEX_FILE)
    _INDEX.update(fresh)
    return _INDEX


def _source_stamp() -> list[tuple[str, int]]:
    """(path, mtime) of every source file of the package: any edit, addition or removal shows."""
    found: list[tuple[str, int]] = []
    folders = [str(PACKAGE_DIR)]
    while folders:  # os.scandir, not Path.rglob: a third of the cost, paid by every `--help`
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        folders.append(entry.path)
                elif entry.name.endswith(".py"):
                    found.append((entry.path, entry.stat().st_mtime_ns))
    return sorted(found)


def operation_index() -> dict[str, str]:
    """CLI name -> one-line summary of every operation (see `_index`)."""
    return _index()["commands"]


class OperationGroup(TyperGroup):
    """The root command group: operation commands are built from the table on first use, the
    built-in ones (`serve`, `mcp`, `operations`) when one of them is named, and every failure of
    a run is reported here as one line with its exit code."""

    def _load_operation(self, cmd_name: str) -> None:
        """Build the command of one operation (only the one being run pays for its model)."""
        if cmd_name in BUILTINS:
            self.commands.update(_builtins())
            return
        from ..operations import OPERATIONS

        for op in OPERATIONS:
            if op.cli_name == cmd_name:
                table = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)
                table.command(name=op.cli_name, help=op.description)(_command(op))
                self.commands[cmd_name] = typer.main.get_group(table).commands[cmd_name]

    def list_commands(self, ctx: Any) -> list[str]:
        listed = [*operation_index(), *BUILTINS]
        return [*listed, *(name for name in self.commands if name not in listed)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            self._load_operation(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        index = _index()
        rows = [*index["commands"].items(), *index["builtins"].items()]
        rows += [
            (name, cmd.get_short_help_str(limit=formatter.width - 30))
            for name, cmd in self.commands.items()
            if name not in index["commands"] and name not in index["builtins"] and not cmd.hidden
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        codes: dict[int, list[str]] = {}
        for exit_code, code in _index()["exit_codes"]:
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
    name="orchestrator",
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
    for key, value in data.items():
        typer.echo(f"{key}: {value if isinstance(value, str) else json.dumps(value)}")


def example_argv(op: Operation, raw: dict[str, Any], as_json: bool = True) -> list[str]:
    """The command-line arguments (after the program name) that run `op` with input `raw`.

    The parity tests replay the table's examples through it, so what the docs print with
    `shlex.join(["orchestrator", *example_argv(op, raw)])` is known to run.
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


#: Commands that are not operations. Typer builds them only when one is named: converting their
#: functions into commands costs a domain command about one percent of its start-up.
BUILTINS = ("serve", "mcp", "operations")
builtin_app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)


def _builtins() -> dict[str, Any]:
    """The built-in commands, by name."""
    from .cli_longrun import operations_app

    if not builtin_app.registered_groups:
        builtin_app.add_typer(operations_app)
    return typer.main.get_group(builtin_app).commands


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_version, help="Print the name and version, then exit"
    ),
) -> None:
    # A callback keeps the root a command group: no command is registered on it eagerly.
    pass


def _check_public_bind(settings: Settings, host_source: str) -> None:
    """Refuse to serve other machines unless callers must authenticate or the owner says so."""
    from .cli_faults import is_loopback

    if is_loopback(settings.host) or settings.allow_public_bind:
        return
    if settings.api_token:
        return
    why = "no API token is set, so anyone who can reach it could change its data"
    fix = f"set {ENV_PREFIX}API_TOKEN, or {ENV_PREFIX}ALLOW_PUBLIC_BIND=true to serve it anyway"
    raise InvalidSettings(
        f"Refusing to bind {host_source}={settings.host!r}: other machines could reach it and {why}; "
        f"bind 127.0.0.1, or {fix}"
    )


def _close(service: Any) -> None:
    if hasattr(service, "close"):
        service.close()


@builtin_app.command()
def serve(
    host: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--host",
        metavar="ADDRESS",
        help=f"Interface to bind [default: {ENV_PREFIX}HOST or 127.0.0.1]",
    ),
    port: Optional[int] = typer.Option(  # noqa: UP045
        None,
        "--port",
        min=1,
        max=65535,
        metavar="INTEGER",
        help=f"Port to listen on [default: {ENV_PREFIX}PORT or 8000]",
    ),
) -> None:
    """Serve the REST API and MCP over streamable HTTP at /mcp."""
    settings = _settings(host=host, port=port)
    host_source = "--host" if host is not None else ENV_PREFIX + "HOST"
    port_source = "--port" if port is not None else ENV_PREFIX + "PORT"
    _check_public_bind(settings, host_source)
    _close(_open_service(settings))  # a store that cannot open is reported before binding
    from .cli_faults import bind

    sock = bind(settings, host_source, port_source)

    import uvicorn

    from .rest import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    typer.echo(f"{NAME} serving on http://{shown}:{settings.port} (press Ctrl-C to stop)", err=True)
    uvicorn.Server(config).run(sockets=[sock])


@builtin_app.command()
def mcp() -> None:
    """Serve MCP over stdio (for agent hosts that launch this program)."""
    _close(_open_service(_settings()))  # settings and store faults are reported before serving
    from .mcp import run_stdio

    run_stdio()


def main() -> None:
    app()
