"""Public tool names: ``<server>_<tool>``, valid MCP names, the same whatever else is federated."""

from __future__ import annotations

import hashlib
import re

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_LENGTH = 64
_SERVER_INVALID = re.compile(r"[^a-zA-Z0-9-]")  # no `_`: the first `_` ends the server part
_TOOL_INVALID = re.compile(r"[^a-zA-Z0-9_-]")
#: How a shortened name ends; a plain name ending so is hashed too, so no plain name can equal a
#: shortened one (a server ``a.b`` with a tool ``c`` must not take ``a-b``'s tool ``c_<hash>``).
_HASHED_END = re.compile(r"_[0-9a-f]{8}$")


def public_name(server: str, tool: str) -> str:
    """The name a tool of ``server`` is listed under.

    It depends on nothing but the pair, so it never changes when other servers join or leave,
    and two pairs never share a name: ``<server>_<tool>`` when the server name has only letters,
    digits and ``-``, the tool name only those and ``_``, and the whole fits 64 characters (the
    first ``_`` then tells server from tool) and it does not end as a shortened name does (``_``
    and 8 hex digits). Otherwise the offending characters become ``-``,
    the name is cut to 55 characters, and ``_`` and 8 hex digits of a hash of the exact pair
    follow, so names that would read alike still differ.
    """
    clean_server, clean_tool = _SERVER_INVALID.sub("-", server), _TOOL_INVALID.sub("-", tool)
    name = f"{clean_server}_{clean_tool}"
    if clean_server == server and clean_tool == tool and len(name) <= MAX_LENGTH and not _HASHED_END.search(name):
        return name
    digest = hashlib.sha256(f"{server}\0{tool}".encode()).hexdigest()[:8]
    return f"{name[: MAX_LENGTH - 9]}_{digest}"
