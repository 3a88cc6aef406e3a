"""What the gateway reports: every registered server's status, version and tool count."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

ServerName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class ServerHealth(BaseModel):
    name: str = Field(description="The server's registered name.")
    status: str = Field(description="Best status among its instances: up, draining, down or unknown.")
    version: str | None = Field(description="Version its instances registered (the newest if they differ).")
    instances: int = Field(description="Instances registered.")
    up_instances: int = Field(description="Instances currently up.")
    exposed: bool = Field(description="Whether the gateway's filters let its tools through.")
    tool_count: int = Field(description="Tools of it the gateway lists (0 until fetched or when not exposed).")
    breaker: str = Field(description="closed, or open while every instance is refusing calls.")


class EcosystemHealth(BaseModel):
    registry: str | None = Field(description="The registry followed (null: none configured).")
    following: bool = Field(description="True while the registry's watch is being followed.")
    index: int = Field(description="Registry revision of the membership in use.")
    tool_count: int = Field(description="Federated tools listed (the gateway's own not counted).")
    servers: list[ServerHealth]
