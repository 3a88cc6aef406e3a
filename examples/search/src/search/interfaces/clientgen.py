"""Write ``interfaces/client.py``: typed remote clients, sync and async, one method per operation.

Generated source rather than ``__getattr__``, so editors complete the methods and type checkers
see each parameter and return type. Types are written out from the handlers' resolved
annotations (constraints dropped: the server validates); a default that is not a plain literal
becomes ``UNSET``, which leaves the value out of the request so the server applies its own.
"""

from __future__ import annotations

import inspect
import json
import sys
import types
import typing
from typing import Any

from pydantic.fields import FieldInfo

from ..core.operation import Operation

PACKAGE = __name__.split(".")[0]
_SIMPLE = (bool, int, float, str, type(None))


class _Imports:
    def __init__(self) -> None:
        self.typing: set[str] = set()
        self.modules: dict[str, set[str]] = {}
        self.handles = False

    def name(self, cls: type) -> str:
        module = cls.__module__
        if module == PACKAGE or module.startswith(PACKAGE + "."):
            module = "." + module[len(PACKAGE) :]  # relative to the package root: ``..domain.models``
        self.modules.setdefault(module, set()).add(cls.__qualname__)
        return cls.__qualname__

    def lines(self) -> list[str]:
        """Import blocks in isort order: typing and the standard library, third party, the package."""
        std = {m: n for m, n in self.modules.items() if m.split(".")[0] in sys.stdlib_module_names}
        ours = {m: n for m, n in self.modules.items() if m.startswith(".")}
        ours[".client_base"] = {"UNSET", "BaseAsyncClient", "BaseClient", "arguments"}
        if self.handles:
            ours[".client_handle"] = {"AsyncOperationHandle", "OperationHandle"}
        third = {m: n for m, n in self.modules.items() if m not in std and m not in ours}
        if self.typing:
            std = {**std, "typing": self.typing | std.get("typing", set())}

        def block(group: dict[str, set[str]]) -> list[str]:
            return [f"from {m} import {', '.join(sorted(n, key=_isort_key))}" for m, n in sorted(group.items())]

        blocks = [b for b in (block(std), block(third), block(ours)) if b]
        return [line for b in blocks for line in [*b, ""]]


def _isort_key(name: str) -> tuple[int, str]:
    kind = 0 if name.isupper() else (1 if name[:1].isupper() else 2)
    return kind, name


def annotation(tp: Any, imports: _Imports) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is type(None):
        return "None"
    if origin is typing.Annotated:
        return annotation(args[0], imports)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(annotation(a, imports) for a in args)
    if origin is typing.Literal:
        imports.typing.add("Literal")
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin in (list, dict, set, frozenset, tuple):
        inner = ", ".join("..." if a is Ellipsis else annotation(a, imports) for a in args)
        return f"{origin.__name__}[{inner}]" if inner else origin.__name__
    if isinstance(tp, type) and not origin:
        return tp.__name__ if tp.__module__ == "builtins" else imports.name(tp)
    imports.typing.add("Any")
    return "Any"


def _default(param: inspect.Parameter) -> str | None:
    value = param.default
    if isinstance(value, FieldInfo):
        value = value.get_default(call_default_factory=False)
    if value is inspect.Parameter.empty or value is Ellipsis:
        return None
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # the formatter's double quotes
    return repr(value) if isinstance(value, _SIMPLE) else "UNSET"


def _method(op: Operation, imports: _Imports, is_async: bool) -> list[str]:
    hints = typing.get_type_hints(op.handler)
    params = [
        p for p in inspect.signature(op.handler).parameters.values() if p.name != "self" and p.name not in op.injected
    ]
    lines = [f"    {'async ' if is_async else ''}def {op.name}(", "        self,"]
    starred = False
    for param in params:
        if param.kind is inspect.Parameter.KEYWORD_ONLY and not starred:
            lines.append("        *,")
            starred = True
        default = _default(param)
        tail = "" if default is None else f" = {default}"
        lines.append(f"        {param.name}: {annotation(hints[param.name], imports)}{tail},")
    result = annotation(op.output_model, imports)
    if op.long_running:  # the method starts it and returns a handle: wait(), progress, cancel()
        imports.handles = True
        result = f"{'AsyncOperationHandle' if is_async else 'OperationHandle'}[{result}]"
    call = f'{"await " if is_async else ""}self.call("{op.name}", arguments(locals()))'
    summary = _docstring_text(op.summary)
    return [*lines, f"    ) -> {result}:", f'        """{summary}"""', f"        return {call}", ""]


def _docstring_text(text: str) -> str:
    """``text`` as it reads inside a ``\"\"\"`` docstring: backslashes and quotes escaped, so a
    name or summary holding them (``Tri \"\"\" Quote``, ``a\\b``) still makes valid source."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def client_source(operations: tuple[Operation, ...], name: str) -> str:
    name = _docstring_text(name)
    imports = _Imports()
    sync = [line for op in operations for line in _method(op, imports, is_async=False)]
    asynchronous = [line for op in operations for line in _method(op, imports, is_async=True)]
    head = [
        f'"""Typed remote clients for {name}: the native API\'s methods over REST, sync and async.',
        "",
        f"Generated from the operation table by `python -m {PACKAGE}.interfaces.contract`; do not edit by hand.",
        "",
        f"    from {PACKAGE}.interfaces.client import AsyncClient, Client",
        "",
        '    with Client("http://127.0.0.1:8000") as client:',
        "        ...",
        '    async with AsyncClient("http://127.0.0.1:8000") as client:',
        "        ...",
        "",
        "Errors come back as the same ``DomainError`` subclasses the native API raises.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        *imports.lines(),
        '__all__ = ["AsyncClient", "Client"]',
        "",
        "",
        "class Client(BaseClient):",
        '    """Blocking calls (httpx under the hood); use it as a context manager or call `close()`."""',
        "",
        *sync[:-1],
        "",
        "",
        "class AsyncClient(BaseAsyncClient):",
        '    """Awaitable calls for asyncio code; `async with` it, or `await aclose()`."""',
        "",
        *asynchronous[:-1],
    ]
    return "\n".join(head) + "\n"
