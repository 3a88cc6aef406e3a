"""The gateway's own knobs, read from ``GATEWAY_*`` environment variables."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from ..core.settings import EnvSettings


class GatewaySettings(EnvSettings):
    """Federation knobs: where membership comes from, what is exposed, how backends are bounded."""

    registry_url: str | None = Field(default=None, description="Manifest registry whose members are federated.")
    watch_wait_seconds: float = Field(default=25.0, gt=0, le=60, description="Long-poll wait of each registry watch.")
    call_timeout_seconds: float = Field(default=10.0, gt=0, le=600, description="Deadline of one forwarded call.")
    list_timeout_seconds: float = Field(default=3.0, gt=0, le=60, description="Deadline of fetching a server's tools.")
    backend_concurrency: int = Field(default=16, ge=1, le=1000, description="Calls in flight per backend instance.")
    breaker_failures: int = Field(default=3, ge=1, le=100, description="Failures in a row that open a breaker.")
    breaker_reset_seconds: float = Field(default=5.0, gt=0, le=600, description="How long an open breaker refuses.")
    backend_token: str | None = Field(default=None, description="Bearer token sent to every backend without its own.")
    backend_tokens: dict[str, str] = Field(
        default_factory=dict, description="Bearer token per server, `name=token,name2=token2` in the environment."
    )
    expose_servers: list[str] = Field(default_factory=list, description="Only these servers (empty: all).")
    expose_tags: list[str] = Field(
        default_factory=list, description="Only servers with one of these tags (empty: all)."
    )

    @field_validator("expose_servers", "expose_tags", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("backend_tokens", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        if isinstance(value, str):
            pairs = (part.split("=", 1) for part in value.split(",") if "=" in part)
            return {name.strip(): token.strip() for name, token in pairs}
        return value

    def token_for(self, server: str) -> str | None:
        """The gateway's credential for ``server``: its own, else the shared one (never the caller's)."""
        return self.backend_tokens.get(server, self.backend_token)

    def exposes(self, server: str, tags: list[str]) -> bool:
        if self.expose_servers and server not in self.expose_servers:
            return False
        return not self.expose_tags or bool(set(tags) & set(self.expose_tags))
