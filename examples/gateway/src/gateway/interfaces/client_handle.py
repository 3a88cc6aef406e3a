"""Handles on a remote long-running operation, returned by the clients' long-running methods.

``wait()`` long-polls ``GET /operations/{id}?revision=N&wait_seconds=S`` (see
``operations_api.py``), so each progress report reaches the caller as soon as the server stores
it, with one request per change rather than a polling interval's delay.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel

from ..core.errors import DomainError, InternalError, Unavailable
from ..core.operation_status import OperationStatus

T = TypeVar("T", bound=BaseModel)
#: Each long poll asks the server to hold it this long: under the clients' request timeout.
POLL_SECONDS = 5.0


def _status(response: httpx.Response) -> OperationStatus:
    if response.is_success:
        return OperationStatus.model_validate_json(response.content)
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict) or "code" not in problem:
        raise InternalError(f"Server answered {response.status_code} without a problem body")
    raise DomainError.from_problem(problem)


class _Handle(Generic[T]):
    def __init__(self, http: Any, prefix: str, status: OperationStatus, output: type[T] | None) -> None:
        self._http = http
        self._path = f"{prefix}/operations/{status.id}"
        self.status = status
        self._output = output

    @property
    def id(self) -> str:
        return self.status.id

    @property
    def progress(self) -> float:
        """Fraction done (0 to 1) as of the last refresh."""
        return self.status.progress

    @property
    def message(self) -> str:
        return self.status.message

    @property
    def done(self) -> bool:
        return self.status.done

    def _outcome(self) -> T:
        if self.status.problem is not None:
            raise DomainError.from_problem(self.status.problem)
        if self._output is None:
            return self.status.result  # type: ignore[return-value]  # an operation this client does not know
        return self._output.model_validate(self.status.result)

    def _unreachable(self, exc: Exception) -> DomainError:
        return Unavailable(f"Cannot reach {self._http.base_url}: {exc.__class__.__name__}")


class OperationHandle(_Handle[T]):
    """A long-running operation on a server: ``wait()`` for its result, ``cancel()`` it."""

    def _send(self, method: str, path: str, params: dict[str, Any] | None = None) -> OperationStatus:
        try:
            response = self._http.request(method, path, params=params)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        self.status = _status(response)
        return self.status

    def refresh(self, wait_seconds: float = 0.0) -> OperationStatus:
        """Read the state now, or wait up to ``wait_seconds`` for it to change."""
        params = {"revision": self.status.revision, "wait_seconds": wait_seconds} if wait_seconds else None
        return self._send("GET", self._path, params)

    def cancel(self) -> OperationStatus:
        """Ask the server to stop the operation; ``wait()`` then raises ``OperationCancelled``."""
        return self._send("POST", self._path + ":cancel")

    def wait(self, timeout: float | None = None, on_progress: Callable[[OperationStatus], None] | None = None) -> T:
        """Block until the operation is done; return its result or raise its error.

        ``on_progress`` sees every state the server reports on the way.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.status.done:
            left = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - time.monotonic())
            if left <= 0:
                raise TimeoutError(f"Operation {self.id} is not done after {timeout} s")
            self.refresh(wait_seconds=left)
            if on_progress is not None:
                on_progress(self.status)
        return self._outcome()


class AsyncOperationHandle(_Handle[T]):
    """The same handle for asyncio code: ``await handle.wait()``, ``await handle.cancel()``."""

    async def _send(self, method: str, path: str, params: dict[str, Any] | None = None) -> OperationStatus:
        try:
            response = await self._http.request(method, path, params=params)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        self.status = _status(response)
        return self.status

    async def refresh(self, wait_seconds: float = 0.0) -> OperationStatus:
        params = {"revision": self.status.revision, "wait_seconds": wait_seconds} if wait_seconds else None
        return await self._send("GET", self._path, params)

    async def cancel(self) -> OperationStatus:
        return await self._send("POST", self._path + ":cancel")

    async def wait(
        self, timeout: float | None = None, on_progress: Callable[[OperationStatus], None] | None = None
    ) -> T:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.status.done:
            left = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - time.monotonic())
            if left <= 0:
                raise TimeoutError(f"Operation {self.id} is not done after {timeout} s")
            await self.refresh(wait_seconds=left)
            if on_progress is not None:
                on_progress(self.status)
        return self._outcome()
