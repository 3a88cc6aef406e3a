"""The `manifest` command line, generated from the operation table.

Only Typer, pydantic and the domain load at start-up; FastAPI, uvicorn, httpx and the MCP SDK
are imported inside the commands that need them, so `--help` and domain commands stay fast.
"""

from __future__ import annotations

import inspect
import json
import sys
import typing
from collections.abc import Callable
from typing import Any, Optional

import typer
from pydantic import BaseModel

from ..core.errors import DomainError
from ..core.operation import Operation
from ..operations import OPERATIONS

URL_ENV = "MANIFEST_URL"

app = typer.Typer(
    name="manifest",
    help="Manifest registry: capability servers register, heartbeat, report health and find each other by name.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _is_list(annotation: Any) -> bool:
    return any(typing.get_origin(a) is list for a in (annotation, *typing.get_args(annotation)))


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
        typer.echo(json.dumps(error.to_problem("urn:manifest:error")))
    else:
        typer.echo(f"error[{error.code}]: {error.detail}", err=True)
    raise typer.Exit(error.exit_code)


def _command(op: Operation) -> Callable[..., None]:
    """Build a function whose signature Typer turns into the command's arguments and options.

    Every value reaches the operation as text and is validated by the operation's own input
    model, so a bad value gets the same `validation_error` here as over REST and MCP.
    """
    params = []
    for name, field in op.input_model.model_fields.items():
        help_text = field.description or ""
        if name in op.path_params:
            default: Any = typer.Argument(..., help=help_text, show_default=False)
            annotation: Any = str
        elif _is_list(field.annotation):
            default = typer.Option(None, f"--{name.replace('_', '-')}", help=help_text + " (repeatable)",
                                   metavar="TEXT")
            annotation = Optional[list[str]]  # noqa: UP045 - Typer reads this annotation at runtime
        elif _is_bool(field.annotation):
            flag = name.replace("_", "-")
            default = typer.Option(None, f"--{flag}/--no-{flag}", help=help_text)
            annotation = Optional[bool]  # noqa: UP045
        else:
            default = typer.Option(None, f"--{name.replace('_', '-')}", help=help_text,
                                   metavar=getattr(field.annotation, "__name__", "TEXT").upper())
            annotation = Optional[str]  # noqa: UP045
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                        default=default, annotation=annotation))
    params.append(inspect.Parameter(
        "as_json", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
        default=typer.Option(False, "--json", help="Print JSON instead of text")))
    params.append(inspect.Parameter(
        "url", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str],  # noqa: UP045
        default=typer.Option(None, "--url", envvar=URL_ENV, metavar="URL",
                             help="Act on a running server at this URL instead of the local store")))

    def command(**kwargs: Any) -> None:
        as_json = kwargs.pop("as_json")
        url = kwargs.pop("url")
        raw = {k: v for k, v in kwargs.items() if v is not None}
        try:
            result = _run(op, raw, url)
        except DomainError as exc:
            fail(exc, as_json)
        _print_result(result, as_json)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__name__ = op.name
    command.__doc__ = op.description
    return command


for _op in OPERATIONS:
    app.command(name=_op.cli_name, help=_op.description)(_command(_op))


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
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port,
                log_level=settings.log_level.lower(), access_log=False)


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
