"""Settings from environment variables, with embedded defaults.

Every variable name starts with ``MANIFEST_``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import validation_failed

ENV_PREFIX = "MANIFEST_"


class EnvSettings(BaseModel):
    """Fields filled from ``<env_prefix><FIELD>`` variables; keyword arguments win over them.

    A plain pydantic model rather than pydantic-settings: that library imports asyncio, argparse
    and dotenv (over 100 ms), which every CLI command would pay at start-up, and environment
    variables are all a capability server reads. Domain code can subclass it for its own knobs.
    """

    model_config = ConfigDict(extra="ignore")
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
    """Settings: ``MANIFEST_*`` variables over embedded defaults."""

    data_dir: Path = Field(default=Path(".data"), description="Folder holding the SQLite store")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    url: str | None = Field(default=None, description="Base URL of a running server (CLI client mode)")
    log_level: str = "INFO"
    max_body_bytes: int = Field(default=65_536, ge=1024, description="Largest accepted request body")
    registry_url: str | None = Field(default=None, description="Manifest registry base URL")
    registry_token: str | None = Field(default=None, description="Bearer token for the registry")
    public_url: str | None = Field(default=None, description="URL peers use to reach this server")
    api_token: str | None = Field(
        default=None, description="Bearer token required for mutating calls; unset refuses them"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        error = validation_failed(exc.errors(include_url=False))
        error.detail = f"Invalid settings ({ENV_PREFIX}*): {error.detail}"
        raise error from None
