"""The native Python API: the domain service with every table operation validated.

Calling ``Service.get_note(slug=...)`` in-process then checks input exactly as the CLI, REST
and MCP do, raises the same ``DomainError`` codes, and is counted the same way.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from .observe import run_operation, run_operation_async
from .operation import Operation

T = TypeVar("T")


def _validated(op: Operation) -> Callable[..., Any]:
    signature = inspect.signature(op.handler)

    def arguments(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            from .errors import ValidationFailed

            raise ValidationFailed(str(exc)) from None
        return {k: v for k, v in bound.arguments.items() if k != "self"}

    def split(raw: dict[str, Any]) -> dict[str, Any]:
        """Take a long-running operation's progress and cancellation out of the input."""
        kinds = {name: "progress" if hint.__name__ == "Progress" else "cancel" for name, hint in op.injected.items()}
        return {kinds[name]: raw.pop(name) for name in list(raw) if name in kinds}

    if op.is_async:

        async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            raw = arguments(self, args, kwargs)
            injected = split(raw)
            return await run_operation_async(op, self, raw, "python", **injected)

    else:

        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            raw = arguments(self, args, kwargs)
            injected = split(raw)
            return run_operation(op, self, raw, "python", **injected)

    method.__name__ = op.name
    method.__doc__ = op.handler.__doc__
    method.__signature__ = signature  # type: ignore[attr-defined]
    return method


def native_api(service_cls: type[T], operations: tuple[Operation, ...]) -> type[T]:
    """A subclass of ``service_cls`` whose table operations validate their input."""
    methods = {op.name: _validated(op) for op in operations}
    return type(service_cls.__name__, (service_cls,), {**methods, "__doc__": service_cls.__doc__})
