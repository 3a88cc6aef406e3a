"""Errors of the gateway. The core's ``Unavailable`` names a backend that failed or timed out."""

from __future__ import annotations

from ..core.errors import DomainError


class ServerNotFound(DomainError):
    code = "server_not_found"
    title = "Server not registered"
    http_status = 404
    exit_code = 3
    hint = "Call `ecosystem_health` to see the servers the gateway knows, and use one of their names."
