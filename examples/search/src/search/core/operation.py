"""The operation table's building blocks.

Each ``Operation`` wraps one service method. Its input model is derived from the method's
signature and its output model from the return annotation, so the signature is the single
source of truth that the CLI, REST routes, MCP tools and the remote client are all built from.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import annotated_types
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from .errors import DomainError, UnknownOperation, validation_failed

_PATH_PARAM = re.compile(r"{(\w+)}")
#: Integers with no bound of their own are held to the signed 64-bit range: what SQLite and most
#: stores hold, so a larger value is the caller's mistake (422), not the store's (500).
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


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
    #: The handler never waits (memory only, or a read that cannot block): servers run it on the
    #: event loop instead of a worker thread, which takes the thread hop (about a third of a
    #: small read's cost) off hot paths. Reads of a SQLite store in WAL mode qualify: readers
    #: see the last committed snapshot and never wait on a writer's lock. Anything that can wait
    #: (writes, which queue for the write lock; network calls) must leave this False, or it
    #: stalls every other request while it waits.
    inline: bool = False
    #: The handler may run for seconds or minutes: every interface starts it, shows its progress
    #: and lets callers cancel it (see core/longrun.py) instead of holding one request open.
    long_running: bool = False

    def __post_init__(self) -> None:
        if self.method.upper() not in HTTP_METHODS:
            raise ValueError(
                f"Operation {self.name!r}: method {self.method!r} is not one of {', '.join(sorted(HTTP_METHODS))}"
            )

    @cached_property
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
    def injected(self) -> dict[str, type]:
        """Parameters filled in by the runner, not the caller (``Progress``, ``Cancellation``)."""
        from .longrun import INJECTED

        return {name: hint for name, hint in self._hints.items() if hint in INJECTED}

    @cached_property
    def input_model(self) -> type[BaseModel]:
        """A pydantic model of the handler's keyword parameters (``self`` and injected ones excluded)."""
        fields: dict[str, Any] = {}
        for param in inspect.signature(self.handler).parameters.values():
            if param.name == "self" or param.name in self.injected:
                continue
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[param.name] = (checked_numbers(self._hints[param.name]), default)
        model_name = "".join(part.capitalize() for part in self.name.split("_")) + "Input"
        return create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)

    @cached_property
    def output_model(self) -> type[BaseModel]:
        return self._hints["return"]

    def parse(self, raw: Mapping[str, Any]) -> BaseModel:
        """Validate raw input from any interface; failures become one ValidationFailed."""
        try:
            arguments = self.input_model.model_validate(dict(raw))
        except ValidationError as exc:
            raise validation_failed(exc.errors(include_url=False)) from None
        if self.method.upper() == "PATCH" and not self._changes(arguments):
            raise validation_failed(
                [{"loc": [], "msg": "An update needs at least one field to change", "type": "missing"}]
            )
        return arguments

    def _changes(self, arguments: BaseModel) -> set[str]:
        """Fields of an update given a value (None means "leave as is"), path parameters aside."""
        return {
            name
            for name in arguments.model_fields_set
            if name not in self.path_params and getattr(arguments, name) is not None
        }

    def call(self, service: Any, arguments: BaseModel, **injected: Any) -> Any:
        """Run the operation on a service with already validated arguments.

        Returns the output model, or for an ``async def`` handler the coroutine that makes it.
        ``injected`` holds a long-running operation's ``progress`` and ``cancel`` (by type).
        """
        values = {n: getattr(arguments, n) for n in type(arguments).model_fields}
        if injected and self.injected:
            from .longrun import Cancellation, Progress

            given = {Progress: injected.get("progress"), Cancellation: injected.get("cancel")}
            values |= {name: given[hint] for name, hint in self.injected.items() if given[hint] is not None}
        # The unbound handler, so a validating subclass (see core/native.py) is not re-entered.
        return self.handler(service, **values)


def _int_bounds(metadata: tuple[Any, ...]) -> tuple[bool, bool]:
    """Whether Annotated metadata (``Field(ge=...)``, ``annotated_types.Le``, ...) bounds an int
    from below and from above."""
    constraints: list[Any] = []
    for item in metadata:
        constraints.extend(item.metadata if isinstance(item, FieldInfo) else [item])
    lower = any(isinstance(c, annotated_types.Ge | annotated_types.Gt) for c in constraints)
    upper = any(isinstance(c, annotated_types.Le | annotated_types.Lt) for c in constraints)
    for c in constraints:
        if isinstance(c, annotated_types.Interval):
            lower = lower or c.ge is not None or c.gt is not None
            upper = upper or c.le is not None or c.lt is not None
    return lower, upper


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "Input should be a number, not true or false")
    return value


#: pydantic's lax mode reads ``true`` as 1 (it needs lax mode: query strings and CLI options
#: arrive as text); a boolean sent for a number is the caller's mistake, refused like any other.
_NO_BOOL = BeforeValidator(_not_bool)


def checked_numbers(annotation: Any) -> Any:
    """``annotation`` with every ``int`` and ``float`` in it refusing booleans, and every ``int``
    that lacks a bound given the 64-bit one it lacks.

    Walks ``Annotated``, unions (``int | None``) and containers (``list[int]``); leaves bool,
    Literal and models alone.
    """
    origin = typing.get_origin(annotation)
    if annotation is int:
        return typing.Annotated[int, _NO_BOOL, annotated_types.Interval(ge=INT_MIN, le=INT_MAX)]
    if annotation is float:
        return typing.Annotated[float, _NO_BOOL]
    if origin is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        if base is int:
            lower, upper = _int_bounds(tuple(metadata))
            extra = [annotated_types.Ge(INT_MIN)] * (not lower) + [annotated_types.Le(INT_MAX)] * (not upper)
            return typing.Annotated[(annotation, _NO_BOOL, *extra)]
        if base is float:
            return typing.Annotated[(annotation, _NO_BOOL)]
        inner = checked_numbers(base)
        return annotation if inner is base else typing.Annotated[(inner, *metadata)]
    args = typing.get_args(annotation)
    if not args or origin is typing.Literal:
        return annotation
    new_args = tuple(checked_numbers(a) for a in args)
    if all(n is a for n, a in zip(new_args, args, strict=True)):
        return annotation
    if origin is typing.Union or isinstance(annotation, types.UnionType):
        return typing.Union[new_args]  # noqa: UP007
    return origin[new_args] if origin is not None else annotation


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


def check_table(operations: tuple[Operation, ...]) -> None:
    """Refuse a table with two entries of one name: each interface would keep one of them, and
    which one would differ from interface to interface, silently."""
    seen: set[str] = set()
    for op in operations:
        if op.name in seen:
            raise ValueError(f"Operation {op.name!r} appears twice in the operation table; keep one entry per handler")
        seen.add(op.name)


def find(operations: tuple[Operation, ...], name: str) -> Operation:
    """Look an operation up by its Python or CLI name."""
    for op in operations:
        if name in (op.name, op.cli_name):
            return op
    raise UnknownOperation(f"No operation named {name!r}")
