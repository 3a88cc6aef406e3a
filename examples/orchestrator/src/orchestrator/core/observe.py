"""Running an operation the same way for every interface: validation, timing, logging, observers.

``run_operation`` serves synchronous callers (the CLI, the native API, worker threads);
``dispatch`` serves the servers (REST, MCP): it awaits ``async def`` handlers on the event
loop, runs ``inline`` handlers there too, and sends blocking ones to a worker thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from . import tracing
from .errors import DomainError, InternalError
from .operation import Operation

log = logging.getLogger("orchestrator.operations")

#: Called with (operation, interface, outcome, seconds) after every call. The server adds its
#: metrics here; CLI commands and library calls add nothing and so never import them.
observers: list[Callable[[str, str, str, float], None]] = []


class recorded:  # lower-case, as contextlib.suppress: it reads ``with recorded(op, interface):``
    """Trace, time, log and observe one call; unexpected exceptions leave as a sanitized
    InternalError. The traceback is logged here and never reaches a caller.

    With tracing on (``core/tracing.py``) the call runs inside its own span, so the log lines
    written during it carry its trace id and the peers it calls join its trace.

    A class rather than a ``@contextmanager`` generator, and one layer with the span opened and
    closed in it: every request pays for this, and the generator's machinery (or a second
    layer) cost a call more than its span did.
    """

    __slots__ = ("interface", "op", "span", "started", "token")

    def __init__(self, op: Operation, interface: str) -> None:
        self.op, self.interface = op, interface

    def __enter__(self) -> None:
        self.span = self.token = None
        if tracing.tracer is not None:
            self.span, self.token = tracing.begin(self.op.name, self.interface)
        self.started = time.perf_counter()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        elapsed = time.perf_counter() - self.started
        op, span = self.op, self.span
        outcome = "ok"
        replacement: InternalError | None = None
        if isinstance(exc, DomainError):
            outcome = exc.code
        elif isinstance(exc, Exception):
            outcome = InternalError.code
            log.error("operation %s failed unexpectedly", op.name, exc_info=(kind, exc, tb))
            replacement = InternalError("The server hit an unexpected error; see its logs.")
        try:
            if span is not None and outcome != "ok":
                tracing.failed(span, outcome)
            for observer in observers:
                observer(op.name, self.interface, outcome, elapsed)
            # Successful calls log at DEBUG so hot paths (heartbeats, lookups) do not flood the log;
            # the level is checked first so a call that logs nothing builds no log record either.
            level = logging.DEBUG if outcome == "ok" else logging.INFO
            if log.isEnabledFor(level):
                log.log(
                    level,
                    "operation finished",
                    extra={
                        "operation": op.name,
                        "interface": self.interface,
                        "outcome": outcome,
                        "duration_ms": round(elapsed * 1000, 3),
                    },
                )
        finally:
            if span is not None:
                tracing.end(span, self.token)  # after the log line, which carries the span's ids
        if replacement is not None:
            raise replacement from None


def run_operation(op: Operation, service: Any, raw: Mapping[str, Any], interface: str, **injected: Any) -> BaseModel:
    """Validate ``raw``, call the service and record the outcome (synchronous callers).

    ``injected``: a long-running operation's ``progress`` and ``cancel``, when the caller has them.
    """
    with recorded(op, interface):
        if op.is_async:
            import asyncio  # only async handlers pay for it: CLI start-up stays lean

            return asyncio.run(op.call(service, op.parse(raw), **injected))
        return op.call(service, op.parse(raw), **injected)


async def run_operation_async(
    op: Operation, service: Any, raw: Mapping[str, Any], interface: str, **injected: Any
) -> BaseModel:
    """Validate ``raw`` and await an ``async def`` handler on the running loop."""
    with recorded(op, interface):
        return await op.call(service, op.parse(raw), **injected)


async def dispatch(op: Operation, service: Any, raw: Mapping[str, Any], interface: str) -> BaseModel:
    """Run an operation from a server: on the loop when it never blocks, else on a worker thread."""
    if op.is_async:
        return await run_operation_async(op, service, raw, interface)
    if op.inline:
        return run_operation(op, service, raw, interface)
    import anyio.to_thread  # already loaded by every server; kept off the CLI's import path

    return await anyio.to_thread.run_sync(run_operation, op, service, raw, interface)
