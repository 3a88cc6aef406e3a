"""What the remote clients share: turning an operation call into an HTTP request and the answer
back into the output model, or into the same ``DomainError`` subclass the native API raises.

The clients themselves (``client.py``, with one typed method per operation) are generated from
the operation table by ``python -m search.interfaces.contract``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Self
from urllib.parse import quote

import httpx

from ..core import tracing
from ..core.errors import DomainError, InternalError, Unavailable, validation_failed
from ..core.operation import Operation, find
from ..core.operation_status import OperationList, OperationStatus
from ..operations import OPERATIONS
from .client_handle import AsyncOperationHandle, OperationHandle, _status

API_PREFIX = "/v1"
TOKEN_ENV = "SEARCH_API_TOKEN"


class Unset:
    """The default of a parameter whose value the server fills in when it is left out."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = Unset()


def arguments(values: Mapping[str, Any]) -> dict[str, Any]:
    """A generated method's ``locals()`` as the call's input: ``self`` and unset values dropped."""
    return {k: v for k, v in values.items() if k != "self" and not isinstance(v, Unset)}


def _headers(token: str | None) -> dict[str, str]:
    token = token or os.environ.get(TOKEN_ENV)
    return {"Authorization": f"Bearer {token}"} if token else {}


def _request(http: httpx.Client | httpx.AsyncClient, op: Operation, raw: dict[str, Any]) -> httpx.Request:
    missing = [name for name in op.path_params if raw.get(name) is None]
    if missing:
        # Without its path parameters the route cannot be addressed at all.
        raise validation_failed([{"loc": [n], "msg": "Field required", "type": "missing"} for n in missing])
    path = op.path
    for name in op.path_params:
        path = path.replace("{" + name + "}", quote(str(raw.pop(name)), safe=""))
    if op.has_body:
        request = http.build_request(op.method, API_PREFIX + path, json=raw)
    else:
        params = {k: v for k, v in raw.items() if v is not None}
        request = http.build_request(op.method, API_PREFIX + path, params=params)
    tracing.outgoing(request.headers)  # traceparent and X-Request-ID, so the peer joins the trace
    return request


def _answer(op: Operation, response: httpx.Response) -> Any:
    if response.is_success and op.long_running:
        return OperationStatus.model_validate_json(response.content)  # the caller wraps it in a handle
    if response.is_success:
        return op.output_model.model_validate_json(response.content)
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict) or "code" not in problem:
        raise InternalError(f"Server answered {response.status_code} without a problem body")
    raise DomainError.from_problem(problem)


class BaseClient:
    """Synchronous calls over REST; ``call`` takes any operation by name and unvalidated input."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=_headers(token), timeout=timeout, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def call(self, name: str, raw: Mapping[str, Any]) -> Any:
        """Call an operation by name (the server validates the input)."""
        op = find(OPERATIONS, name)
        request = _request(self._http, op, dict(raw))
        try:
            response = self._http.send(request)
        except httpx.HTTPError as exc:
            raise Unavailable(f"Cannot reach {self._http.base_url}: {exc.__class__.__name__}") from None
        answer = _answer(op, response)
        if op.long_running:
            return OperationHandle(self._http, API_PREFIX, answer, op.output_model)
        return answer

    def operation(self, operation_id: str) -> OperationHandle[Any]:
        """A handle on a long-running operation started earlier (by anyone), by its id."""
        handle: OperationHandle[Any] = OperationHandle(self._http, API_PREFIX, _placeholder(operation_id), None)
        status = handle.refresh()
        output = next((op.output_model for op in OPERATIONS if op.name == status.operation), None)
        return OperationHandle(self._http, API_PREFIX, status, output)

    def operations(self, limit: int = 20, cursor: str | None = None) -> OperationList:
        """One page of the server's long-running operations, newest first."""
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        try:
            response = self._http.get(API_PREFIX + "/operations", params=params)
        except httpx.HTTPError as exc:
            raise Unavailable(f"Cannot reach {self._http.base_url}: {exc.__class__.__name__}") from None
        if response.is_success:
            return OperationList.model_validate_json(response.content)
        _status(response)  # raises the problem
        raise InternalError(f"Server answered {response.status_code}")


def _placeholder(operation_id: str) -> OperationStatus:
    """A status standing in for one not read yet (only its id is used)."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return OperationStatus(
        id=quote(operation_id, safe=""),
        operation="",
        state="pending",
        done=False,
        progress=0,
        message="",
        result=None,
        problem=None,
        created_at=now,
        updated_at=now,
        revision=0,
    )


class BaseAsyncClient:
    """The same calls for asyncio code: ``await client.call(...)`` and awaitable methods."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=_headers(token), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(self, name: str, raw: Mapping[str, Any]) -> Any:
        """Call an operation by name (the server validates the input)."""
        op = find(OPERATIONS, name)
        request = _request(self._http, op, dict(raw))
        try:
            response = await self._http.send(request)
        except httpx.HTTPError as exc:
            raise Unavailable(f"Cannot reach {self._http.base_url}: {exc.__class__.__name__}") from None
        answer = _answer(op, response)
        if op.long_running:
            return AsyncOperationHandle(self._http, API_PREFIX, answer, op.output_model)
        return answer

    async def operation(self, operation_id: str) -> AsyncOperationHandle[Any]:
        """A handle on a long-running operation started earlier (by anyone), by its id."""
        handle: AsyncOperationHandle[Any] = AsyncOperationHandle(
            self._http, API_PREFIX, _placeholder(operation_id), None
        )
        status = await handle.refresh()
        output = next((op.output_model for op in OPERATIONS if op.name == status.operation), None)
        return AsyncOperationHandle(self._http, API_PREFIX, status, output)
