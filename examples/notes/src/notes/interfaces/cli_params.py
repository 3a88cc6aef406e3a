"""How each parameter type of the operation table looks on the command line.

`describe` reads a pydantic field (its annotation, constraints and default) once, and the same
description builds the Typer option, converts the text typed by the user, and turns an example
input back into the arguments the CLI accepts (`example_argv`), so the three cannot disagree.
Values still reach the operation's own input model, which validates them: a bad value gets the
same `validation_error` on the CLI as over REST and MCP.

Imported only when a command is built or an example is printed, never by `--help`.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from typing import Any, Literal, Optional

import typer

#: Bounds this wide are the storage limit every integer gets, not a range worth printing.
INT64 = (-(2**63), 2**63 - 1)
_SEQUENCES = (list, set, frozenset, tuple)
_NAMES = {int: "INTEGER", float: "NUMBER", str: "TEXT", bool: "BOOLEAN"}


@dataclass(frozen=True)
class Param:
    """What the CLI needs to know about one input field."""

    name: str
    kind: str  # "flag", "choice", "json", "scalar"
    repeatable: bool
    required: bool
    metavar: str
    choices: tuple[Any, ...] = ()
    help: str = ""
    bounds: str = ""  # e.g. "1<=x<=500"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def convert(self, text: Any) -> Any:
        """Text from the command line -> the value handed to the input model."""
        if self.repeatable and isinstance(text, list | tuple):
            return [self._one(item) for item in text]
        return self._one(text)

    def _one(self, text: Any) -> Any:
        if self.kind == "json" and isinstance(text, str):
            from ..core.errors import validation_failed

            try:
                return json.loads(text)
            except ValueError as exc:
                msg = f"Malformed JSON: {exc}"
                raise validation_failed([{"loc": [self.name], "msg": msg, "type": "json_invalid"}]) from None
        if self.kind == "choice":
            # Literal[1, 2] must receive the int 1, not the text "1"; unknown text is left for
            # the model to refuse with its usual message.
            return next((c for c in self.choices if str(c) == text), text)
        return text

    def words(self, value: Any) -> list[str]:
        """The command-line words that give this parameter `value` (an example's input)."""
        if self.kind == "flag":
            if value is None:
                return []
            return [self.flag if value else "--no-" + self.flag[2:]]
        items = list(value) if self.repeatable and isinstance(value, _SEQUENCES) else [value]
        return [word for item in items if item is not None for word in (self.flag, self.text(item))]

    def text(self, value: Any) -> str:
        """One value as the CLI expects to read it back."""
        if self.kind == "json" or isinstance(value, bool | dict | list):
            return json.dumps(value)
        if isinstance(value, float):
            return repr(value)
        return str(value)


def _unwrap(annotation: Any) -> tuple[Any, list[Any], bool]:
    """(core type, constraints, optional) of an annotation such as Optional[Annotated[int, Ge(0)]]."""
    metadata: list[Any] = []
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            for item in extra:  # a Field(...) inside Annotated carries its constraints in .metadata
                metadata.extend(getattr(item, "metadata", None) or [item])
            continue
        args = typing.get_args(annotation)
        if type(None) in args and origin is not Literal:
            optional = True
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1:
                annotation = rest[0]
                continue
        return annotation, metadata, optional


def _bounds(metadata: list[Any]) -> str:
    """Constraints as Click prints a range: `1<=x<=500`, `x>=0`, `x<1.5`."""
    low: tuple[str, Any] | None = None
    high: tuple[str, Any] | None = None
    for item in metadata:
        for attr, sign in (("ge", "<="), ("gt", "<"), ("le", "<="), ("lt", "<")):
            value = getattr(item, attr, None)
            if value is not None and value not in INT64:
                if attr[0] == "g":
                    low = (sign, value)
                else:
                    high = (sign, value)
    if low and high:
        return f"{low[1]}{low[0]}x{high[0]}{high[1]}"
    if low:
        return f"x{low[0].replace('<', '>')}{low[1]}"
    return f"x{high[0]}{high[1]}" if high else ""


def _is_structured(annotation: Any) -> bool:
    if annotation is dict or typing.get_origin(annotation) is dict:
        return True
    return isinstance(annotation, type) and hasattr(annotation, "model_fields")


def describe(name: str, field: Any, positional: bool = False) -> Param:
    """The CLI view of one pydantic field of an operation's input model."""
    core, metadata, _ = _unwrap(field.annotation)
    metadata = [*field.metadata, *metadata]
    repeatable = typing.get_origin(core) in _SEQUENCES
    if repeatable:
        item_args = typing.get_args(core)
        core, inner, _ = _unwrap(item_args[0] if item_args else str)
        metadata = inner  # a list's own constraints (length) are not its items'
    notes = []
    bounds = ""
    if core is bool and not repeatable:
        kind, metavar, choices = "flag", "", ()
    elif typing.get_origin(core) is Literal:
        choices = typing.get_args(core)
        kind, metavar = "choice", "[" + "|".join(str(c) for c in choices) + "]"
    elif _is_structured(core):
        kind, metavar, choices = "json", "JSON", ()
    else:
        kind, choices = "scalar", ()
        metavar = _NAMES.get(core, "TEXT")
        if core in (int, float) and (bounds := _bounds(metadata)):
            notes.append(bounds)
    if repeatable:
        notes.append("repeatable")
    required = field.is_required()
    default = field.default
    if required:
        notes += [] if positional else ["required"]  # Typer marks required arguments itself
    elif default is not None and default != "" and not isinstance(default, (*_SEQUENCES, dict)):
        shown = ("--" if default else "--no-") + name.replace("_", "-") if kind == "flag" else default
        notes.append(f"default: {shown}")
    text = " ".join(filter(None, [field.description or "", " ".join(f"[{n}]" for n in notes)]))
    return Param(name, kind, repeatable, required, metavar, choices, text, bounds)


def typer_parameter(param: Param, positional: bool) -> tuple[Any, Any]:
    """(annotation, default) of the Typer parameter; every value stays text until the model."""
    if positional:
        return str, typer.Argument(..., help=param.help, metavar=param.name.upper(), show_default=False)
    if param.kind == "flag":
        return Optional[bool], typer.Option(None, f"{param.flag}/--no-{param.flag[2:]}", help=param.help)  # noqa: UP045
    annotation: Any = Optional[list[str]] if param.repeatable else Optional[str]  # noqa: UP045
    return annotation, typer.Option(None, param.flag, help=param.help, metavar=param.metavar, show_default=False)


def parameters(op: Any) -> dict[str, Param]:
    fields = op.input_model.model_fields.items()
    return {name: describe(name, field, name in op.path_params) for name, field in fields}


def example_argv(op: Any, raw: typing.Mapping[str, Any], as_json: bool = True) -> list[str]:
    """The arguments (after the program name) that run `op` with input `raw` on the CLI.

    Path parameters are positional, booleans are switches, lists repeat their option and
    dicts or models are JSON. Docs generators print `shlex.join([program, *argv])`.
    """
    params = parameters(op)
    options: list[str] = []
    for name, value in raw.items():
        if name in op.path_params:
            continue
        options += params[name].words(value) if name in params else [f"--{name.replace('_', '-')}", str(value)]
    options += ["--json"] if as_json else []
    positional = [str(raw[name]) for name in op.path_params if name in raw]
    if any(p.startswith("-") for p in positional):
        return [op.cli_name, *options, "--", *positional]  # "-1" must not read as an option
    return [op.cli_name, *positional, *options]
