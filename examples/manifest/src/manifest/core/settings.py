"""Settings from environment variables (prefix ``MANIFEST_``), with embedded defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import validation_failed

ENV_PREFIX = "MANIFEST_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

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
