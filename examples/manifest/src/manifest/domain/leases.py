"""Lease tokens: the secret that makes a registration owned by whoever registered it.

Register answers a token; heartbeat, status, update, deregister and re-register of that
instance must carry it. The registry keeps only a SHA-256 digest of it (tokens are random
and long, so no salt or slow hash is needed), and never answers the digest. The operator
token (``MANIFEST_OPERATOR_TOKEN``) works for every instance.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .errors import LeaseMismatch
from .models import Instance


def new_token() -> str:
    return secrets.token_urlsafe(24)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check(record: Instance, token: str | None, operator: str | None) -> None:
    """Raise LeaseMismatch unless ``token`` owns ``record`` (or is the operator token)."""
    if token is not None and operator and hmac.compare_digest(token.encode(), operator.encode()):
        return
    held = record._lease_digest
    if held is None:
        return  # a record stored before leases existed: owned by whoever registers it next
    if token is None:
        raise LeaseMismatch(
            f"{record.name}/{record.instance_id} is leased: send the lease_token its registration answered"
        )
    if not hmac.compare_digest(digest(token), held):
        raise LeaseMismatch(f"the lease_token does not own {record.name}/{record.instance_id}")
