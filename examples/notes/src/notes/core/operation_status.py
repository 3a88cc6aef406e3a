"""The state of a long-running operation as every interface shows it (``core/longrun.py`` has what
its handler receives). Kept apart so that a command which runs no long-running operation never
builds these models: the CLI's start-up pays for every class it defines."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

State = Literal["pending", "running", "succeeded", "failed", "cancelled"]


class OperationStatus(BaseModel):
    """A long-running operation's state, the same on every interface (REST resource, CLI
    `operations get`, client handle). Shaped after Google AIP-151: ``done`` says whether
    ``result`` or ``problem`` is final."""

    id: str = Field(description="Opaque id; GET /operations/{id} reads it")
    operation: str = Field(description="Name of the operation in the table")
    state: State
    done: bool
    progress: float = Field(ge=0, le=1, description="Fraction done, 0 to 1")
    message: str = Field(description="The last progress message")
    result: dict[str, Any] | None = Field(
        description="The operation's output once it succeeded (null in list pages: read the operation for it)"
    )
    problem: dict[str, Any] | None = Field(description="RFC 9457 problem once it failed or was cancelled")
    created_at: datetime
    updated_at: datetime
    revision: int = Field(description="Increases on every change; pass it back to wait for the next")


class OperationList(BaseModel):
    """One page of operations, newest first."""

    items: list[OperationStatus]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")
