"""Bearer-token check for mutating operations (REST and MCP over HTTP).

There is no default token: with `NOTES_API_TOKEN` unset, every mutating
call over the network is refused, so a fresh deployment is never writable by anyone who can
reach it.
"""

from __future__ import annotations

import hmac

from ..core.errors import Unauthorized
from ..core.settings import ENV_PREFIX, Settings


def require_token(settings: Settings, authorization: str | None) -> None:
    if not settings.api_token:
        raise Unauthorized(
            f"Mutating calls are disabled: set {ENV_PREFIX}API_TOKEN on the server"
            " and send it as 'Authorization: Bearer <token>'"
        )
    scheme, _, token = (authorization or "").partition(" ")
    # Constant-time comparison so response timing does not reveal the token.
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), settings.api_token.encode()):
        raise Unauthorized("Missing or wrong bearer token")
