"""The REST resource of long-running operations, after Google AIP-151.

Starting a long-running operation answers ``202 Accepted`` with ``Location: <prefix>/operations/{id}``
and the operation's first state. Then:

- ``GET <prefix>/operations/{id}``: its state, progress, and the result or problem once ``done``;
  ``?revision=N&wait_seconds=S`` answers as soon as the revision passes N (a long poll, so
  progress reaches a waiting caller at once), or after S seconds (at most 30);
- ``POST <prefix>/operations/{id}:cancel``: asks it to stop; answers its state;
- ``GET <prefix>/operations?limit=&cursor=``: newest first, a page at a time.

An unknown or expired id is ``404`` with code ``operation_not_found``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..core.errors import validation_failed
from ..core.longrun import OperationNotFound, TooManyOperations
from ..core.operation_status import OperationList, OperationStatus
from ..core.runner import MAX_WAIT_SECONDS, OperationRunner

MAX_PAGE = 100


class _Watch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    revision: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    wait_seconds: Annotated[float, Field(ge=0, le=MAX_WAIT_SECONDS)] = 0.0


class _Page(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 20
    cursor: Annotated[str, Field(min_length=1, max_length=200)] | None = None


def _query(model: type[BaseModel], request: Request) -> Any:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise validation_failed(exc.errors(include_url=False)) from None


def add_operation_routes(
    app: FastAPI, runner: OperationRunner, prefix: str, authorize: Callable[[str | None], None] | None
) -> None:
    errors = {
        404: {"description": OperationNotFound.title},
        503: {"description": TooManyOperations.title},
    }

    @app.get(prefix + "/operations", tags=["operations"], response_model=OperationList)
    async def list_operations(request: Request) -> OperationList:
        """List long-running operations, newest first, a page at a time."""
        page = _query(_Page, request)
        return runner.store.page(page.limit, page.cursor)

    @app.get(prefix + "/operations/{operation_id}", tags=["operations"], responses=errors)
    async def get_operation(operation_id: str, request: Request) -> OperationStatus:
        """Read a long-running operation; with wait_seconds, wait for its next change first."""
        watch = _query(_Watch, request)
        return await runner.watch(operation_id, watch.revision, watch.wait_seconds)

    @app.post(prefix + "/operations/{operation_id}:cancel", tags=["operations"], responses=errors)
    async def cancel_operation(operation_id: str, request: Request) -> OperationStatus:
        """Ask a long-running operation to stop; it reads `cancelled` once it has."""
        if authorize is not None:
            authorize(request.headers.get("authorization"))
        return await runner.cancel(operation_id)
