"""Running an operation the same way for every interface: validation, timing, logging, observers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from .errors import DomainError, InternalError
from .operation import Operation

log = logging.getLogger("manifest.operations")

#: Called with (operation, interface, outcome, seconds) after every call. The server adds its
#: metrics here; CLI commands and library calls add nothing and so never import them.
observers: list[Callable[[str, str, str, float], None]] = []


def run_operation(op: Operation, service: Any, raw: Mapping[str, Any], interface: str) -> BaseModel:
    """Validate ``raw``, call the service and record the outcome.

    Unexpected exceptions are logged with their traceback here and surface to callers only as
    a sanitized ``internal_error``.
    """
    started = time.perf_counter()
    outcome = "ok"
    try:
        return op.call(service, op.parse(raw))
    except DomainError as exc:
        outcome = exc.code
        raise
    except Exception:
        outcome = InternalError.code
        log.exception("operation %s failed unexpectedly", op.name)
        raise InternalError("The server hit an unexpected error; see its logs.") from None
    finally:
        elapsed = time.perf_counter() - started
        for observer in observers:
            observer(op.name, interface, outcome, elapsed)
        # Successful calls log at DEBUG so hot paths (heartbeats, lookups) do not flood the log.
        log.log(
            logging.DEBUG if outcome == "ok" else logging.INFO,
            "operation finished",
            extra={
                "operation": op.name,
                "interface": interface,
                "outcome": outcome,
                "duration_ms": round(elapsed * 1000, 3),
            },
        )
