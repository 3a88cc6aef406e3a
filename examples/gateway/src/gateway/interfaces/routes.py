"""Operation routes as plain ASGI apps, and the table that finds them without the framework.

Each generated route does the same small job: gather path, query and body values into one
dict, run the operation through ``dispatch`` (which validates with the operation's own input
model) and write the output model as JSON. FastAPI's per-request machinery (dependency solving,
its request and response objects, five middleware layers, a linear route scan) would add more
CPU than that job itself, so the guard finds these routes in ``RouteTable`` and calls them
directly. They are registered on the FastAPI router as well, where HEAD, 405 answers and
in-process callers find them; the OpenAPI document describes them from the operation table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.routing import compile_path

from ..core import logs
from ..core.errors import DomainError, validation_failed
from ..core.observe import dispatch
from ..core.operation import Operation, is_list
from .guard import encode_problem

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
_JSON_HEADERS = [(b"content-type", b"application/json")]
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def too_deep(body: bytes, limit: int) -> bool:
    """Whether JSON text nests deeper than ``limit``, found with a loop instead of recursion.

    Python's parser recurses once per level and fails with RecursionError on deep input, so the
    depth is checked before parsing. Most bodies hold fewer brackets than the limit and are
    cleared by two C-speed counts; others are scanned bracket by bracket, strings removed first.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for char in _NOT_BRACKET.sub(b"", _STRING.sub(b"", body)):
        if char in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def header(scope: Any, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class OperationEndpoint:
    """One operation's route: input gathered by hand, validated once by the operation's model."""

    #: The guard makes a caller's ``traceparent`` the parent of this route's call.
    joins_callers_trace = True

    def __init__(
        self,
        op: Operation,
        service: Any,
        *,
        max_json_depth: int,
        problem_type: str,
        authorize: Callable[[str | None], None] | None = None,
        runner: Any = None,
        api_prefix: str = "",
    ) -> None:
        self.op = op
        # A long-running operation is started by its runner and answered 202 + Location.
        self.runner = runner if op.long_running else None
        self.operations_path = api_prefix + "/operations/"
        self.service = service
        self.max_depth = max_json_depth
        self.problem_type = problem_type
        self.authorize = authorize if op.mutating else None
        self.has_body = op.has_body
        self.lists = frozenset(n for n, f in op.input_model.model_fields.items() if is_list(f.annotation))

    async def _body(self, receive: Any) -> dict[str, Any]:
        # The guard's receive counts bytes and stops an oversize body while it streams in.
        chunks = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise validation_failed([{"loc": ["body"], "msg": "Client disconnected", "type": "incomplete"}])
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if not body:
            return {}
        if too_deep(body, self.max_depth):
            msg = f"JSON nested deeper than {self.max_depth} levels"
            raise validation_failed([{"loc": ["body"], "msg": msg, "type": "too_deep"}])
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            error = {"loc": ["body"], "msg": f"Malformed JSON: {exc}", "type": "json_invalid"}
            raise validation_failed([error]) from None
        if not isinstance(data, dict):
            raise validation_failed([{"loc": ["body"], "msg": "Expected a JSON object", "type": "model_type"}])
        return data

    def _query(self, query: bytes) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if key in self.lists:
                raw.setdefault(key, []).append(value)
            else:
                raw[key] = value  # the last one wins, as in most frameworks
        return raw

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # The guard in front has given the call its request id and the caller's trace context.
        try:
            if self.authorize is not None:
                self.authorize(header(scope, b"authorization"))
            if self.has_body:
                raw = await self._body(receive)
            else:
                raw = self._query(scope["query_string"]) if scope["query_string"] else {}
            raw.update(scope.get("path_params", ()))
            if self.runner is not None:
                started = await self.runner.submit(self.op, self.service, raw, "rest")
                body = type(started).__pydantic_serializer__.to_json(started)
                location = (self.operations_path + started.id).encode()
                status, headers = 202, [*_JSON_HEADERS, (b"location", location)]
            else:
                result = await dispatch(self.op, self.service, raw, "rest")
                # pydantic writes JSON bytes straight from the model, without an intermediate dict.
                body = type(result).__pydantic_serializer__.to_json(result)
                status, headers = self.op.status_code, _JSON_HEADERS
        except DomainError as exc:
            body, headers = encode_problem(exc, self.problem_type, logs.request_id.get())
            status = exc.http_status
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class RouteTable:
    """Method + path -> endpoint and path parameters, for the guard's direct calls."""

    def __init__(self, routes: Iterable[tuple[str, str, ASGIApp]]) -> None:
        self.by_method: dict[str, list[tuple[re.Pattern[str], ASGIApp]]] = {}
        for method, path, app in routes:
            self.by_method.setdefault(method.upper(), []).append((compile_path(path)[0], app))

    def find(self, method: str, path: str) -> tuple[ASGIApp, dict[str, str]] | None:
        for pattern, app in self.by_method.get(method, ()):
            match = pattern.match(path)
            if match:
                return app, match.groupdict()
        return None


def refuse_shadowed_routes(operations: Iterable[Operation]) -> None:
    """Refuse a route that an earlier one with the same method would always answer instead.

    Routes match in table order, so `GET /notes/count` after `GET /notes/{slug}` is never
    reached: every request for it runs the earlier operation with slug="count".
    """
    seen: list[Operation] = []
    for later in operations:
        for earlier in seen:
            if earlier.method.upper() != later.method.upper():
                continue
            # The later path taken literally ("{slug}" as text) matches the earlier pattern only
            # if every request for the later route matches it too.
            if compile_path(earlier.path)[0].match(later.path):
                raise ValueError(
                    f"Operation {later.name!r} ({later.method} {later.path}) is shadowed by operation"
                    f" {earlier.name!r} ({earlier.method} {earlier.path}), which comes first in the"
                    f" operation table and matches every request for it; move {later.name!r} above"
                    f" {earlier.name!r}."
                )
        seen.append(later)
