"""The operation table's building blocks.

Each ``Operation`` wraps one service method. Its input model is derived from the method's
signature and its output model from the return annotation, so the signature is the single
source of truth that the CLI, REST routes, MCP tools and the remote client are all built from.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from .errors import DomainError, UnknownOperation, validation_failed

_PATH_PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Example:
    """One call of an operation, replayed in table order by the parity tests and the docs.

    ``error`` names the error code the call must produce; ``None`` means it succeeds.
    """

    input: Mapping[str, Any]
    error: str | None = None


@dataclass(frozen=True)
class Operation:
    """One entry of the operation table: a service method plus how each interface shows it."""

    handler: Callable[..., Any]
    method: str
    path: str
    errors: tuple[type[DomainError], ...] = ()
    read_only: bool = False
    destructive: bool = False
    status_code: int = 200
    examples: tuple[Example, ...] = field(default=())
    #: The handler only touches memory (no disk or network wait): servers run it on the event
    #: loop instead of a worker thread, which takes the thread hop off hot paths.
    inline: bool = False

    @property
    def is_async(self) -> bool:
        """An ``async def`` handler: servers await it on their loop (it costs no worker thread
        while it waits, e.g. a long poll); the CLI runs it with ``asyncio.run``."""
        return inspect.iscoroutinefunction(self.handler)

    @property
    def name(self) -> str:
        return self.handler.__name__

    @property
    def cli_name(self) -> str:
        return self.name.replace("_", "-")

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.handler) or self.name.replace("_", " ").capitalize()
        return doc.splitlines()[0]

    @property
    def description(self) -> str:
        return inspect.getdoc(self.handler) or self.summary

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(_PATH_PARAM.findall(self.path))

    @property
    def mutating(self) -> bool:
        return not self.read_only

    @property
    def has_body(self) -> bool:
        return self.method.upper() in {"POST", "PUT", "PATCH"}

    @cached_property
    def _hints(self) -> dict[str, Any]:
        return typing.get_type_hints(self.handler, include_extras=True)

    @cached_property
    def input_model(self) -> type[BaseModel]:
        """A pydantic model of the handler's keyword parameters (``self`` excluded)."""
        fields: dict[str, Any] = {}
        for param in inspect.signature(self.handler).parameters.values():
            if param.name == "self":
                continue
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[param.name] = (self._hints[param.name], default)
        model_name = "".join(part.capitalize() for part in self.name.split("_")) + "Input"
        return create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)

    @cached_property
    def output_model(self) -> type[BaseModel]:
        return self._hints["return"]

    def parse(self, raw: Mapping[str, Any]) -> BaseModel:
        """Validate raw input from any interface; failures become one ValidationFailed."""
        try:
            return self.input_model.model_validate(dict(raw))
        except ValidationError as exc:
            raise validation_failed(exc.errors(include_url=False)) from None

    def call(self, service: Any, arguments: BaseModel) -> Any:
        """Run the operation on a service with already validated arguments.

        Returns the output model, or for an ``async def`` handler the coroutine that makes it.
        """
        # The unbound handler, so a validating subclass (see core/native.py) is not re-entered.
        return self.handler(service, **{n: getattr(arguments, n) for n in type(arguments).model_fields})


def is_list(annotation: Any) -> bool:
    """list[X], also inside Optional[...] or Annotated[...]: repeatable on the CLI and in queries."""
    if typing.get_origin(annotation) is list:
        return True
    return any(is_list(a) for a in typing.get_args(annotation) if a is not type(None))


def is_structured(annotation: Any) -> bool:
    """dict or model values, which text-only interfaces (the CLI) take as JSON."""
    if annotation is dict or typing.get_origin(annotation) is dict:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(is_structured(a) for a in typing.get_args(annotation) if a is not type(None))


def find(operations: tuple[Operation, ...], name: str) -> Operation:
    """Look an operation up by its Python or CLI name."""
    for op in operations:
        if name in (op.name, op.cli_name):
            return op
    raise UnknownOperation(f"No operation named {name!r}")
