"""The registry's own knobs, read from ``MANIFEST_*`` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..core.settings import EnvSettings


class RegistrySettings(EnvSettings):
    """Registry knobs, read from ``MANIFEST_*`` environment variables."""

    backend: Literal["sqlite", "etcd"] = "sqlite"
    etcd_endpoints: str = Field(default="http://127.0.0.1:2379", description="Comma-separated etcd client URLs.")
    etcd_prefix: str = "/manifest"
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    ttl_seconds: float = Field(default=15.0, gt=0)
    grace_seconds: float = Field(default=60.0, ge=0)
    sweep_seconds: float = Field(default=1.0, gt=0)
    self_preservation: bool = True
    self_preservation_ratio: float = Field(default=0.15, ge=0, le=1)
    self_preservation_min: int = Field(default=3, ge=1)
    removals_per_minute: float = Field(
        default=6.0, ge=0, description="Removal budget while self-preservation is active."
    )
    event_history: int = Field(default=10_000, ge=10)
    operator_token: str | None = Field(
        default=None,
        min_length=16,
        description="Passed as lease_token, acts on any instance (operators only; unset: nobody can).",
    )
    list_limit: int = Field(default=100, ge=1, le=1000, description="Page size of list when none is asked for.")
    # One registration is a record kept until it lapses (and, under self-preservation, longer):
    # without bounds a client holding the token could fill the store and the memory of every reader.
    max_instances: int = Field(default=10_000, ge=1, le=1_000_000, description="Instances the registry holds at most.")
    max_instances_per_service: int = Field(
        default=256, ge=1, le=100_000, description="Instances one service name holds at most."
    )
    conflict_retries: int = Field(
        default=5, ge=1, le=50, description="Reloads a write tries when another process moved the store."
    )
