"""Remote Python client: the native API's method names, over the REST API.

    from orchestrator.interfaces.client import Client
    with Client("http://127.0.0.1:8000") as notes:
        notes.create_note(slug="groceries", title="Groceries")

Errors come back as the same ``DomainError`` subclasses the native API raises.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from ..core.errors import DomainError, InternalError, Unavailable, validation_failed
from ..core.operation import Operation, find
from ..operations import OPERATIONS

API_PREFIX = "/v1"


class Client:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        token = token or os.environ.get("ORCHESTRATOR_API_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __getattr__(self, name: str) -> Any:
        # Same method names as the native Service, built from the operation table.
        op = find(OPERATIONS, name)
        if op.name != name:
            raise AttributeError(name)

        def method(**kwargs: Any) -> BaseModel:
            return self.call(op.name, kwargs)

        method.__name__ = op.name
        method.__doc__ = op.description
        return method

    def call(self, name: str, raw: Mapping[str, Any]) -> BaseModel:
        """Call an operation by name with unvalidated input (the server validates it)."""
        op = find(OPERATIONS, name)
        request = self._request(op, dict(raw))
        try:
            response = self._http.send(request)
        except httpx.HTTPError as exc:
            raise Unavailable(f"Cannot reach {self._http.base_url}: {exc.__class__.__name__}") from None
        if response.is_success:
            return op.output_model.model_validate_json(response.content)
        try:
            problem = response.json()
        except ValueError:
            raise InternalError(f"Server answered {response.status_code} without a problem body") from None
        if not isinstance(problem, dict) or "code" not in problem:
            raise InternalError(f"Server answered {response.status_code} without a problem body")
        raise DomainError.from_problem(problem)

    def _request(self, op: Operation, raw: dict[str, Any]) -> httpx.Request:
        missing = [name for name in op.path_params if raw.get(name) is None]
        if missing:
            # Without its path parameters the route cannot be addressed at all.
            raise validation_failed([{"loc": [n], "msg": "Field required", "type": "missing"} for n in missing])
        path = op.path
        for name in op.path_params:
            path = path.replace("{" + name + "}", quote(str(raw.pop(name)), safe=""))
        if op.has_body:
            return self._http.build_request(op.method, API_PREFIX + path, json=raw)
        params = {k: v for k, v in raw.items() if v is not None}
        return self._http.build_request(op.method, API_PREFIX + path, params=params)
