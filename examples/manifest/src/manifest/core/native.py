"""The native Python API: the domain service with every table operation validated.

Calling ``Service.get_note(slug=...)`` in-process then checks input exactly as the CLI, REST
and MCP do, raises the same ``DomainError`` codes, and is counted the same way.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from .observe import run_operation
from .operation import Operation

T = TypeVar("T")


def _validated(op: Operation) -> Callable[..., Any]:
    signature = inspect.signature(op.handler)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            from .errors import ValidationFailed

            raise ValidationFailed(str(exc)) from None
        raw = {k: v for k, v in bound.arguments.items() if k != "self"}
        return run_operation(op, self, raw, "python")

    method.__name__ = op.name
    method.__doc__ = op.handler.__doc__
    method.__signature__ = signature  # type: ignore[attr-defined]
    return method


def native_api(service_cls: type[T], operations: tuple[Operation, ...]) -> type[T]:
    """A subclass of ``service_cls`` whose table operations validate their input."""
    methods = {op.name: _validated(op) for op in operations}
    return type(service_cls.__name__, (service_cls,), {**methods, "__doc__": service_cls.__doc__})
