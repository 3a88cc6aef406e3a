"""Settings from environment variables, with embedded defaults.

Every variable name starts with ``ORCHESTRATOR_``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import validation_failed
from .store import default_data_dir

ENV_PREFIX = "ORCHESTRATOR_"


class EnvSettings(BaseModel):
    """Fields filled from ``<env_prefix><FIELD>`` variables; keyword arguments win over them.

    A plain pydantic model rather than pydantic-settings: that library imports asyncio, argparse
    and dotenv (over 100 ms), which every CLI command would pay at start-up, and environment
    variables are all a capability server reads. Domain code can subclass it for its own knobs.
    """

    # defer_build: this base is never validated itself, so its schema is built only for the
    # subclasses that are (one build fewer in every CLI command's start-up).
    model_config = ConfigDict(extra="ignore", defer_build=True)
    env_prefix: ClassVar[str] = ENV_PREFIX

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, data: Any) -> Any:
        prefix = cls.env_prefix.upper()
        env = {
            key[len(prefix) :].lower(): value
            for key, value in os.environ.items()
            if key.upper().startswith(prefix) and value != ""
        }
        return {**env, **data} if isinstance(data, dict) else data


class Settings(EnvSettings):
    """Settings: ``ORCHESTRATOR_*`` variables over embedded defaults.

    List settings take a comma-separated value from the environment (``a,b``).
    """

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Folder holding the store; default: the project's folder in the per-user data directory"
        " (`~/.local/share/<project>` on Linux), whatever the current directory",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    url: str | None = Field(default=None, description="Base URL of a running server (CLI client mode)")
    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"
    max_body_bytes: int = Field(default=65_536, ge=1024, le=1 << 30, description="Largest accepted request body")
    max_json_depth: int = Field(default=32, ge=2, le=256, description="Deepest nesting accepted in a JSON body")
    allowed_hosts: list[str] = Field(
        default=[], description="Host header values served; empty: loopback names when bound to loopback"
    )
    allowed_origins: list[str] = Field(
        default=[], description="Origins (scheme://host[:port]) allowed to call from a browser"
    )
    allow_public_bind: bool = Field(default=False, description="Allow binding a non-loopback address with no API token")
    max_long_polls: int = Field(default=100, ge=1, le=100_000, description="Concurrent long polls served")
    mcp_max_sessions: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="MCP requests over HTTP served at once (stateless: each request is its own session); more get 503",
    )
    mcp_session_idle_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="How long an idle MCP session lives; unused while MCP over HTTP is stateless, as generated",
    )
    store_timeout_seconds: float = Field(
        default=5.0, gt=0, le=600, description="Longest a write waits for the store before store_unavailable"
    )
    registry_url: str | None = Field(default=None, description="Manifest registry base URL")
    registry_token: str | None = Field(default=None, description="Bearer token for the registry")
    public_url: str | None = Field(default=None, description="URL peers use to reach this server")
    tags: list[str] = Field(default=[], description="Tags this server registers with")
    dependencies: list[str] = Field(
        default=[],
        description="Servers this one calls (registered as its dependencies); empty: the `dependencies` of"
        " `[tool.chora-base]` in pyproject.toml",
    )
    # -- peers (core/peers.py): calls to the servers named in `dependencies` ------------------
    peer_timeout_seconds: float = Field(
        default=5.0, gt=0, le=600, description="Deadline of one peer call, retries included"
    )
    peer_retries: int = Field(
        default=2, ge=0, le=10, description="Extra attempts of a peer call, only when retrying is safe"
    )
    peer_breaker_failures: int = Field(
        default=5, ge=1, le=1000, description="Calls in a row left unanswered that open a peer instance's circuit"
    )
    peer_breaker_reset_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="How long an open circuit refuses calls before one trial"
    )
    peer_token: str | None = Field(default=None, description="Bearer token sent to peers (their API token)")
    # Sagas and events (core/saga.py, core/events.py)
    saga_database_url: str | None = Field(
        default=None, description="Saga database: a postgresql:// URL; unset: SQLite in the data folder"
    )
    saga_fsync: bool = Field(
        default=False,
        description="SQLite saga database: fsync every checkpoint (survives a power cut, several times slower);"
        " off, a crash of the process still loses nothing",
    )
    nats_url: str | None = Field(
        default=None, description="NATS server (with JetStream) events go through; unset: an in-process bus"
    )
    events_stream: str = Field(
        default="EVENTS", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="JetStream stream holding the events"
    )
    api_token: str | None = Field(
        default=None, description="Bearer token required for mutating calls; unset refuses them"
    )

    # Long-running operations (core/longrun.py, core/runner.py).
    operations_max_running: int = Field(
        default=4, ge=1, le=1000, description="Long-running operations one server runs at once; more are refused"
    )
    operations_retention_seconds: float = Field(
        default=86_400.0, ge=60, le=31_536_000, description="How long a finished operation's record is kept"
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        from urllib.parse import urlsplit  # only when origins are set: CLI start-up stays lean

        for origin in value:
            parts = urlsplit(origin)
            if origin != "*" and (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.path not in ("", "/")
                or parts.query
                or parts.fragment
            ):
                raise ValueError(f"{origin!r} is not an origin: give scheme://host[:port], or *")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("allowed_hosts", "allowed_origins", "tags", "dependencies", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        error = validation_failed(exc.errors(include_url=False))
        error.detail = f"Invalid settings ({ENV_PREFIX}*): {error.detail}"
        raise error from None
