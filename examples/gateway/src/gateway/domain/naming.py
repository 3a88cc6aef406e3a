"""Public tool names: ``<server>_<tool>``, valid MCP names, the same whatever else is federated."""

from __future__ import annotations

import hashlib
import re

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_LENGTH = 64
_INVALID = re.compile(r"[^a-zA-Z0-9_-]")


def public_name(server: str, tool: str) -> str:
    """The name a tool of ``server`` is listed under.

    It depends on nothing but the pair, so it never changes when other servers join or leave.
    Characters outside ``[a-zA-Z0-9_-]`` become ``-``; a name over 64 characters keeps its
    first 55 and ends in ``_`` and 8 hex digits of a hash of the full pair, so two long names
    that share a prefix still differ.
    """
    name = _INVALID.sub("-", f"{server}_{tool}")
    if len(name) <= MAX_LENGTH:
        return name
    digest = hashlib.sha256(f"{server}\0{tool}".encode()).hexdigest()[:8]
    return f"{name[: MAX_LENGTH - 9]}_{digest}"
