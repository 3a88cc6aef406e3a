"""Input rules the registry enforces on every interface: safe text and endpoints by kind.

Records are read by people (dashboards, logs, terminals) and by other servers that connect to
the endpoints they advertise, so:

- names, tags, versions, metadata keys and reasons refuse control characters, bidirectional
  overrides and zero-width characters (Unicode categories Cc, Cf, Cs, Co, Cn, Zl, Zp): text
  that renders differently from what it is, or that rewrites a terminal, is never stored;
- REST and MCP endpoints must be http(s) URLs with a host and no credentials, and never a
  link-local or unspecified address (169.254.0.0/16 and fe80::/10 hold cloud metadata
  services; a registry that hands them out turns every client into a proxy for them);
- CLI endpoints are command names, Python endpoints are dotted module names.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_METADATA_HOSTS = frozenset({"metadata", "metadata.google.internal", "metadata.azure.com", "instance-data"})
_COMMAND = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def safe_text(value: str) -> str:
    """Refuse characters that hide or reorder text (controls, bidi, zero-width, unassigned)."""
    for index, char in enumerate(value):
        if unicodedata.category(char) in _UNSAFE_CATEGORIES:
            raise ValueError(
                f"character U+{ord(char):04X} at position {index} is not allowed "
                "(control, bidirectional or zero-width characters are refused)"
            )
    return value


def http_endpoint(value: str) -> str:
    """An http(s) URL another server can connect to: a host, no credentials, no link-local."""
    safe_text(value)
    if any(char.isspace() for char in value):
        raise ValueError("an endpoint URL may not contain spaces")
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a port outside 0-65535
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("an endpoint must be an http:// or https:// URL")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError("an endpoint URL needs a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("an endpoint URL may not carry credentials (user:password@)")
    if port == 0:
        raise ValueError("an endpoint URL may not use port 0")
    if host.lower() in _METADATA_HOSTS:
        raise ValueError(f"{host} is a cloud metadata service, not a server endpoint")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return value  # a DNS name
    if address.is_link_local or address.is_unspecified or address.is_multicast:
        raise ValueError(f"{host} is a link-local, unspecified or multicast address, not a server endpoint")
    return value


def command_endpoint(value: str) -> str:
    if not _COMMAND.match(value):
        raise ValueError("a CLI endpoint is a command name: letters, digits, '.', '_', '+' or '-'")
    return value


def module_endpoint(value: str) -> str:
    if not _MODULE.match(value):
        raise ValueError("a Python endpoint is an importable module name, e.g. 'notes_server'")
    return value
