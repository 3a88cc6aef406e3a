"""The commands that are not operations: `serve`, `mcp` and `operations`.

Imported only when one of them runs (or when `--help`'s cached list is rebuilt): converting their
functions into Typer commands costs a domain command about one percent of its start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import typer
import typer.main

from ..core.about import NAME
from ..core.errors import InvalidSettings
from .cli import ENV_PREFIX, _open_service, _settings

if TYPE_CHECKING:
    from ..core.settings import Settings

builtin_app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)


def commands() -> dict[str, Any]:
    """The built-in commands, by name."""
    from .cli_longrun import operations_app

    if not builtin_app.registered_groups:
        builtin_app.add_typer(operations_app)
    return typer.main.get_group(builtin_app).commands


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
