"""Running long-running operations: ``OperationRunner`` in a server (REST and MCP share one),
``run_here`` for an in-process CLI command.

The handler runs on a worker thread (or the loop, for an ``async def`` handler) with a
``Progress`` whose reports go to the store and wake whoever waits on the operation, and a
``Cancellation`` set by a cancel request: one from this process directly, one from another
process (a CLI ``operations cancel``) through the store, read back at the next report.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
import threading
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from .errors import DomainError, Unavailable
from .longrun import Cancellation, OperationCancelled, Progress, TooManyOperations
from .observe import recorded
from .operation import Operation
from .operation_status import OperationStatus
from .operation_store import PROBLEM_TYPE, OperationStore

#: The longest a caller may wait for a change in one request (REST ``wait_seconds``).
MAX_WAIT_SECONDS = 30.0


def _execute(
    op: Operation,
    service: Any,
    arguments: BaseModel,
    interface: str,
    store: OperationStore,
    status: OperationStatus,
    cancel: Cancellation,
    changed: Callable[[], None],
) -> OperationStatus:
    """Run the handler to its end and record how it ended (on the calling thread)."""

    def sink(fraction: float, message: str) -> None:
        if store.report(status.id, fraction, message):
            cancel.request()
        changed()

    try:
        with recorded(op, interface):
            cancel.raise_if_requested()
            result = op.call(service, arguments, progress=Progress(sink), cancel=cancel)
            if inspect.iscoroutine(result):
                result = asyncio.run(result)
    except OperationCancelled as exc:
        final = store.finish(status.id, "cancelled", problem=exc.to_problem(PROBLEM_TYPE))
    except DomainError as exc:
        final = store.finish(status.id, "failed", problem=exc.to_problem(PROBLEM_TYPE))
    else:
        final = store.finish(status.id, "succeeded", result=result.model_dump(mode="json"))
    changed()
    return final


class OperationRunner:
    """A server's long-running operations: at most ``max_running`` at once, each on a thread."""

    def __init__(self, store: OperationStore, max_running: int, max_waiters: int) -> None:
        self.store = store
        self.max_running = max_running
        self.max_waiters = max_waiters
        self.running: dict[str, Cancellation] = {}
        self.waiters = 0
        self.starting = 0  # slots taken by submits still writing their record
        self._changed: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def submit(self, op: Operation, service: Any, raw: dict[str, Any], interface: str) -> OperationStatus:
        """Validate, record and start the operation; returns at once with its first state."""
        arguments = op.parse(raw)  # bad input is refused now, never recorded as a failure
        if len(self.running) + self.starting >= self.max_running:
            raise TooManyOperations(
                f"{self.max_running} operations are already running on this server; try again when one finishes"
            )
        import anyio.to_thread

        self.starting += 1
        try:
            # Writes wait for the store's write lock: on a worker thread, never on the loop.
            status = await anyio.to_thread.run_sync(self.store.create, op.name)
        finally:
            self.starting -= 1
        cancel = self.running[status.id] = Cancellation()
        loop = asyncio.get_running_loop()

        def changed() -> None:
            loop.call_soon_threadsafe(self._wake, status.id)

        async def run() -> None:
            try:
                await anyio.to_thread.run_sync(
                    _execute, op, service, arguments, interface, self.store, status, cancel, changed
                )
            finally:
                self.running.pop(status.id, None)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return status

    def _wake(self, op_id: str) -> None:
        event = self._changed.pop(op_id, None)
        if event is not None:
            event.set()

    async def watch(self, op_id: str, after_revision: int = 0, wait_seconds: float = 0.0) -> OperationStatus:
        """The operation's state once its revision passes ``after_revision`` or it is done, or
        after ``wait_seconds`` (a long poll: progress reaches the caller as soon as it is made)."""
        status = self.store.get(op_id)
        if status.done or status.revision > after_revision or wait_seconds <= 0:
            return status
        if self.waiters >= self.max_waiters:
            raise Unavailable(f"{self.max_waiters} callers are already waiting on operations; try again shortly")
        self.waiters += 1
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + min(wait_seconds, MAX_WAIT_SECONDS)
            while True:
                event = self._changed.setdefault(op_id, asyncio.Event())
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return self.store.get(op_id)
                # A run in another process (an in-process CLI) wakes nobody here: look again at
                # least every second.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(remaining, 1.0))
                status = self.store.get(op_id)
                if status.done or status.revision > after_revision:
                    return status
        finally:
            self.waiters -= 1

    async def cancel(self, op_id: str) -> OperationStatus:
        """Ask the operation to stop (best effort: it stops at its next check)."""
        import anyio.to_thread

        cancel = self.running.get(op_id)
        if cancel is not None:
            cancel.request()
        status = await anyio.to_thread.run_sync(self.store.request_cancel, op_id)
        self._wake(op_id)
        return status


def run_here(
    op: Operation,
    service: Any,
    raw: dict[str, Any],
    store: OperationStore,
    on_change: Callable[[OperationStatus], None],
) -> OperationStatus:
    """Run the operation in this process (the CLI without ``--url``), recorded in the store like
    a server's. Ctrl-C asks it to stop and waits for it to stop; a second Ctrl-C stops waiting
    (the record then reads ``interrupted`` once this process is gone)."""
    arguments = op.parse(raw)
    status = store.create(op.name)
    on_change(status)
    cancel = Cancellation()
    box: dict[str, OperationStatus] = {}

    def changed() -> None:
        on_change(store.get(status.id))

    finished = threading.Event()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            box["final"] = _execute(op, service, arguments, "cli", store, status, cancel, changed)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, raised there
            failure.append(exc)
        finally:
            finished.set()

    threading.Thread(target=work, daemon=True).start()
    if _wait_cancelling_on_ctrl_c(finished):  # Ctrl-C: ask the operation to stop, wait until it has
        cancel.request()
        store.request_cancel(status.id)
        if _wait_cancelling_on_ctrl_c(finished):
            raise KeyboardInterrupt  # a second Ctrl-C: stop waiting for the operation to stop
    if failure:
        raise failure[0]
    return box["final"]


def _wait_cancelling_on_ctrl_c(finished: threading.Event) -> bool:
    """Wait for ``finished``; True as soon as Ctrl-C is pressed (it is not raised here).

    A KeyboardInterrupt raised inside ``Event.wait`` can leave the event's lock taken, and the
    worker's ``set()`` then blocks for ever: so while this waits, SIGINT only sets a flag, which
    the short waits below look at. Off the main thread (no signal handlers there) Ctrl-C cannot
    arrive.
    """
    if threading.current_thread() is not threading.main_thread():
        finished.wait()
        return False
    pressed: list[bool] = []

    def on_sigint(signum: int, frame: Any) -> None:
        pressed.append(True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        while not pressed and not finished.wait(0.2):  # short waits: a press is seen within 0.2 s
            pass
    finally:
        signal.signal(signal.SIGINT, previous)
    return bool(pressed)


def open_store(settings: Any) -> OperationStore:
    return OperationStore(settings.data_dir, settings.operations_retention_seconds)


def open_runner(settings: Any) -> OperationRunner:
    """A server's runner; opening the store fails the records a stopped server left running."""
    return OperationRunner(open_store(settings), settings.operations_max_running, settings.max_long_polls)
