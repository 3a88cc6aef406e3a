"""The gateway's service: the federation behind the MCP hook, and its one operation.

``dynamic_tools`` is the MCP interface's hook for tools the operation table cannot know: the
federation lists every exposed server's tools and forwards their calls. ``ecosystem_health``
is an ordinary operation, so it is a CLI command, a REST route and an MCP tool as well.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from ..core.about import NAME, VERSION
from ..core.errors import Unavailable
from .config import GatewaySettings
from .errors import ServerNotFound
from .federation import Federation
from .models import EcosystemHealth, ServerHealth, ServerName

if TYPE_CHECKING:
    from ..core.settings import Settings

_RANK = {"up": 0, "draining": 1, "down": 2, "unknown": 3}


class Service:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.dynamic_tools = Federation(settings, own_name=NAME)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Service:
        if settings is not None:  # the gateway stores nothing, but its data folder must exist
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(GatewaySettings())

    def readiness(self) -> dict[str, Any]:
        """Ready whether or not the registry answers: the last membership keeps being served."""
        follower = self.dynamic_tools.follower
        return {"following_registry": bool(follower and follower.following)}

    def start(self) -> None:
        self.dynamic_tools.start()

    def close(self) -> None:
        self.dynamic_tools.stop()

    async def refresh_tools(self, name: ServerName) -> ServerHealth:
        """Fetch a federated server's tools again now (e.g. after a redeploy that kept its version).

        Its listed tools change (and clients are told) only if the answer differs.
        """
        if name == NAME:
            return self.server_health(name)  # its own tools are the operation table: nothing to fetch
        backend = self.dynamic_tools.servers.get(name)
        if backend is None:
            raise ServerNotFound(f"No server named {name!r} is federated; ecosystem_health lists them")
        if not await self.dynamic_tools.refetch(backend):
            raise Unavailable(f"Server {name!r} did not list its tools within the deadline; try again")
        return self.server_health(name)

    def server_health(self, name: ServerName) -> ServerHealth:
        """One registered server's status, version and tool count, as the gateway sees them."""
        return self.ecosystem_health(name=name).servers[0]

    def ecosystem_health(self, name: ServerName | None = None) -> EcosystemHealth:
        """Every registered server's status, version and tool count, as the gateway sees them.

        Answers from memory (the registry's last snapshot and the tools already fetched), so
        it is quick even while a backend hangs. ``name`` narrows the answer to one server.
        """
        from ..operations import OPERATIONS

        federation = self.dynamic_tools
        records: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in federation.instances:
            records[record["name"]].append(record)
        if NAME not in records:  # the gateway reports itself, registered or not
            records[NAME].append({"name": NAME, "instance_id": "self", "status": "up", "version": VERSION})
        if name is not None and name not in records:
            raise ServerNotFound(f"No server named {name!r} is registered; call without a name to see them all")
        servers = []
        for server in sorted(records) if name is None else [name]:
            group = records[server]
            backend = federation.servers.get(server)
            tags = sorted({t for r in group for t in r.get("tags") or []})
            own = server == NAME  # its own tools are served directly, never federated
            servers.append(
                ServerHealth(
                    name=server,
                    status=min((r["status"] for r in group), key=lambda s: _RANK.get(s, 9)),
                    version=max((str(r.get("version")) for r in group), default=None),
                    instances=len(group),
                    up_instances=sum(r["status"] == "up" for r in group),
                    exposed=own or self.settings.exposes(server, tags),
                    tool_count=len(OPERATIONS) if own else len(backend.tools or []) if backend else 0,
                    breaker=backend.breaker if backend else "closed",
                )
            )
        follower = federation.follower
        return EcosystemHealth(
            registry=self.settings.registry_url,
            following=bool(follower and follower.following),
            index=follower.index if follower else 0,
            tool_count=len(federation.tools_now()),
            servers=servers,
        )
