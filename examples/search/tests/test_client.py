"""The remote clients are typed from the operation table: each operation is a real method, sync
and async, with the handler's parameters and return type, and both replay the table's examples
exactly as the native API does. Template-owned: generic over the operation table."""

from __future__ import annotations

import asyncio
import inspect
import typing
from typing import Any

import pytest
from drivers import TOKEN, NativeDriver, replay

from search import OPERATIONS
from search.core.errors import DomainError
from search.interfaces.client import AsyncClient, Client
from search.interfaces.client_handle import (
    AsyncOperationHandle,
    OperationHandle,
)


def _parameters(function: Any, hidden: Any = ()) -> list[tuple[str, Any, bool]]:
    params = inspect.signature(function).parameters.values()
    return [
        (p.name, p.kind, p.default is inspect.Parameter.empty)
        for p in params
        if p.name != "self" and p.name not in hidden
    ]


@pytest.mark.parametrize("client_cls", [Client, AsyncClient])
def test_every_operation_is_a_typed_method(client_cls: type) -> None:
    assert "__getattr__" not in vars(client_cls)
    for op in OPERATIONS:
        method = vars(client_cls).get(op.name)
        assert method is not None, f"{client_cls.__name__} has no method {op.name}: regenerate the client"
        # A long-running operation's progress and cancellation are the server's, not the caller's.
        assert _parameters(method) == _parameters(op.handler, op.injected), op.name
        hints = typing.get_type_hints(method)
        if op.long_running:  # the method returns a handle on the operation: wait() gives the output
            handle = OperationHandle if client_cls is Client else AsyncOperationHandle
            assert typing.get_origin(hints["return"]) is handle, op.name
            assert typing.get_args(hints["return"]) == (op.output_model,), op.name
        else:
            assert hints["return"] is op.output_model, op.name
        assert set(hints) == set(typing.get_type_hints(op.handler)) - set(op.injected), op.name
        assert inspect.iscoroutinefunction(method) is (client_cls is AsyncClient), op.name


class _AsyncDriver:
    """The async client, one event loop for the whole replay."""

    def __init__(self, base_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = AsyncClient(base_url, token=TOKEN)

    def call(self, name: str, raw: dict[str, Any]) -> tuple[str, Any]:
        async def run() -> tuple[str, Any]:
            try:
                result = await getattr(self.client, name)(**raw)
                if isinstance(result, AsyncOperationHandle):
                    result = await result.wait(timeout=60)
                return "ok", result.model_dump(mode="json")
            except DomainError as exc:
                return "error", exc.code

        return self.loop.run_until_complete(run())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


class _SyncDriver:
    def __init__(self, base_url: str) -> None:
        self.client = Client(base_url, token=TOKEN)

    def call(self, name: str, raw: dict[str, Any]) -> tuple[str, Any]:
        try:
            result = getattr(self.client, name)(**raw)
            if isinstance(result, OperationHandle):
                result = result.wait(timeout=60)
            return "ok", result.model_dump(mode="json")
        except DomainError as exc:
            return "error", exc.code

    def close(self) -> None:
        self.client.close()


@pytest.mark.parametrize("driver_cls", [_SyncDriver, _AsyncDriver])
def test_clients_match_native(driver_cls: Any, settings: Any, server_url: str, tmp_path: Any) -> None:
    native = replay(NativeDriver(settings.model_copy(update={"data_dir": tmp_path / "native"})))
    driver = driver_cls(server_url)
    try:
        assert replay(driver) == native
    finally:
        driver.close()
