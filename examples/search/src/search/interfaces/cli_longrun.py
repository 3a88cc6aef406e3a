"""Long-running operations on the command line: run one and show its progress, and the
``operations`` commands (get, wait, cancel, list).

Without a server (no ``--url``) a command runs the operation in this process, recorded in the
local store like a server's, so ``operations get`` from another shell sees it and
``operations cancel`` from another shell stops it at its next progress report. With ``--url``
the server runs it and this command follows it (``--no-wait``: print its id and return).
Ctrl-C cancels the operation either way, then waits for it to stop.

rich draws the progress bar on a terminal and is imported only then; elsewhere (a pipe, a log)
each progress step is one line on stderr. The result goes to stdout as for any command.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Optional

import typer

from .cli_faults import printable

if TYPE_CHECKING:
    from ..core.operation import Operation
    from ..core.operation_status import OperationStatus


@contextmanager
def progress_display(label: str) -> Iterator[Callable[[OperationStatus], None]]:
    """A function showing each new state of the operation: a bar on a terminal, else lines."""
    seen = {"revision": -1}
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[message]}"),
            console=Console(stderr=True),
            transient=False,
        )
        task = bar.add_task(label, total=1.0, message="")
        with bar:

            def show_bar(status: OperationStatus) -> None:
                bar.update(task, completed=status.progress, message=escape(printable(status.message)))

            yield show_bar
        return

    def show_line(status: OperationStatus) -> None:
        if status.revision > seen["revision"] and not status.done:
            seen["revision"] = status.revision
            typer.echo(f"{label}: {round(status.progress * 100)}% {printable(status.message)}".rstrip(), err=True)

    yield show_line


def outcome(op: Operation | None, status: OperationStatus) -> Any:
    """The result as the operation's output model, or its error raised."""
    from ..core.errors import DomainError

    if status.problem is not None:
        raise DomainError.from_problem(status.problem)
    return op.output_model.model_validate(status.result) if op is not None else status


def run_remote(op: Operation, raw: dict[str, Any], url: str, no_wait: bool) -> Any:
    from .client import Client

    with Client(url) as client:
        handle = client.call(op.name, raw)
        if no_wait:
            return handle.status
        return follow(client, handle, op)


def follow(client: Any, handle: Any, op: Operation | None) -> Any:
    with progress_display(handle.status.operation or "operation") as show:
        show(handle.status)
        try:
            handle.wait(on_progress=show)
        except KeyboardInterrupt:
            handle.cancel()
            handle.wait(on_progress=show)
        except Exception:  # noqa: BLE001 - the outcome below raises the operation's own error
            if not handle.done:
                raise
    return outcome(op, handle.status)


def run_local(op: Operation, raw: dict[str, Any], settings: Any, service: Any, no_wait: bool) -> Any:
    from ..core.errors import ValidationFailed
    from ..core.runner import open_store, run_here

    if no_wait:
        raise ValidationFailed(
            "--no-wait needs a server to run the operation (--url or the URL variable); without one it runs here"
        )
    with progress_display(op.name) as show:
        final = run_here(op, service, raw, open_store(settings), show)
    return outcome(op, final)


# The `operations` commands ---------------------------------------------------------------------

operations_app = typer.Typer(
    name="operations",
    help="Follow long-running operations: get, wait for, cancel or list them",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
_URL = typer.Option(None, "--url", metavar="URL", help="A running server; default: the local store")
_JSON = typer.Option(False, "--json", help="Print JSON instead of text")


def _env_url(url: str | None) -> str | None:
    import os

    from .cli import URL_ENV

    return url or os.environ.get(URL_ENV) or None


def _print(data: Any, as_json: bool) -> None:
    from .cli import _print_result

    _print_result(data, as_json)


def _local_store() -> Any:
    from ..core.runner import open_store
    from .cli import _settings

    return open_store(_settings())


@operations_app.command("get")
def get(operation_id: str, url: Optional[str] = _URL, as_json: bool = _JSON) -> None:  # noqa: UP045
    """Print an operation's state, progress and result or problem."""
    url = _env_url(url)
    if url:
        from .client import Client

        with Client(url) as client:
            _print(client.operation(operation_id).status, as_json)
        return
    _print(_local_store().get(operation_id), as_json)


@operations_app.command("wait")
def wait(operation_id: str, url: Optional[str] = _URL, as_json: bool = _JSON) -> None:  # noqa: UP045
    """Wait for an operation to finish, showing its progress; print its result."""
    url = _env_url(url)
    if url:
        from .client import Client

        with Client(url) as client:
            handle = client.operation(operation_id)
            _print(follow(client, handle, _op(handle.status.operation)), as_json)
        return
    import time

    store = _local_store()
    status = store.get(operation_id)
    with progress_display(status.operation) as show:
        while not status.done:  # another process runs it: read the shared store
            show(status)
            time.sleep(0.1)
            status = store.get(operation_id)
    _print(outcome(_op(status.operation), status), as_json)


@operations_app.command("cancel")
def cancel(operation_id: str, url: Optional[str] = _URL, as_json: bool = _JSON) -> None:  # noqa: UP045
    """Ask an operation to stop; it reads `cancelled` once it has."""
    url = _env_url(url)
    if url:
        from .client import Client

        with Client(url) as client:
            _print(client.operation(operation_id).cancel(), as_json)
        return
    _print(_local_store().request_cancel(operation_id), as_json)


@operations_app.command("list")
def list_(
    limit: int = typer.Option(20, "--limit", min=1, max=100, help="Operations per page (at most 100)"),
    cursor: Optional[str] = typer.Option(None, "--cursor", help="next_cursor of the previous page"),  # noqa: UP045
    url: Optional[str] = _URL,  # noqa: UP045
    as_json: bool = _JSON,
) -> None:
    """List operations, newest first."""
    url = _env_url(url)
    if url:
        from .client import Client

        with Client(url) as client:
            _print(client.operations(limit, cursor), as_json)
        return
    _print(_local_store().page(limit, cursor), as_json)


def _op(name: str) -> Operation | None:
    from ..operations import OPERATIONS

    return next((op for op in OPERATIONS if op.name == name), None)
