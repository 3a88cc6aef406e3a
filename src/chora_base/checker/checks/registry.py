"""Registry SAP (RG): peers come from the manifest registry, never fixed addresses."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from chora_base.checker.checks.base import ChoraCheck, bullet
from chora_base.checker.project import ProjectInfo

FAMILY = "registry"

# A URL with a host; or a bare "IPv4:port" pair.
_URL = re.compile(r"""\b(?:https?|wss?|grpc)://[^\s'"<>)\]]+""")
_IP_PORT = re.compile(r"""(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3}):(\d{2,5})\b""")
# Addresses that name *this* process or documentation, never a peer.
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]", "testserver"})
_DOC_SUFFIXES = (".example", ".example.com", ".example.org", ".invalid", ".test")


def _is_peer(host: str, has_port: bool) -> bool:
    host = host.lower().strip("[]")
    if host in _LOCAL_HOSTS or host in {"example.com", "example.org"}:
        return False
    if host.endswith(_DOC_SUFFIXES):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        # A named host only counts with a port: links to documentation (https://docs...)
        # are fine, `http://billing:8080` is a hard-coded peer.
        return has_port


class _RG(ChoraCheck):
    family = FAMILY


class RG001(_RG):
    "No hard-coded peer addresses in the package source"

    tier = "essential"
    rationale = (
        "A fixed peer address breaks when the peer moves; look peers up by name in the "
        "registry or take them from settings."
    )

    def check(self, chora_project: ProjectInfo) -> str:
        found = []
        for path in chora_project.python_sources():
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            rel = path.relative_to(chora_project.root)
            for lineno, line in enumerate(text.splitlines(), 1):
                if line.lstrip().startswith("#"):
                    continue
                for url in _URL.findall(line):
                    try:
                        parts = urlsplit(url)
                        port = parts.port
                    except ValueError:
                        continue
                    if parts.hostname and _is_peer(parts.hostname, port is not None):
                        found.append(f"`{rel}:{lineno}`: `{url}`")
                for ip, _port in _IP_PORT.findall(line):
                    if _is_peer(ip, True):
                        found.append(f"`{rel}:{lineno}`: `{ip}:{_port}`")
        if found:
            return (
                "Replace these addresses with a setting (`"
                f"{chora_project.env_prefix}...` environment variable) or a registry lookup "
                "by name:\n" + bullet(found)
            )
        return ""


class RG002(_RG):
    "The registry URL comes from settings (`<PKG>_REGISTRY_URL`)"

    tier = "essential"
    rationale = (
        "Registering on start, heartbeating and looking peers up need the registry's "
        "address; it must be configuration, not code."
    )

    def check(self, chora_project: ProjectInfo) -> str:
        pkg_dir = chora_project.package_dir
        settings = pkg_dir / "core" / "settings.py" if pkg_dir else None
        text = settings.read_text(encoding="utf-8") if settings and settings.is_file() else ""
        if "registry_url" not in text:
            return (
                "Add `registry_url: str | None = None` to the settings class in "
                f"`core/settings.py` (read from `{chora_project.env_prefix}REGISTRY_URL`) "
                "and register with it on start-up; `copier update` brings the template's "
                "manifest client."
            )
        return ""


CHECKS: tuple[type[ChoraCheck], ...] = (RG001, RG002)
