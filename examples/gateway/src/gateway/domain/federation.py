"""The federation: every exposed `up` server's tools under stable names, served from memory.

``tools()`` answers ``tools/list`` from a list rebuilt only when membership or a server's tools
change, so a hung backend can never slow it. A server's tools are fetched once when it first
appears (under ``list_timeout_seconds``, in the background) and again when its version
changes; a server that leaves takes its tools with it at once. Each change of the list is
published on ``changes``, which the MCP interface serves to ``subscriptions/listen`` streams
as ``notifications/tools/list_changed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

import anyio

from ..core import tracing
from ..core.errors import Unavailable
from .backends import ServerBackends, Unreachable
from .config import GatewaySettings
from .naming import public_name

if TYPE_CHECKING:  # the connection pool and the MCP SDK load when the federation starts, not with the CLI
    from mcp import types
    from mcp.server.subscriptions import SubscriptionBus

    from .membership import Follower
    from .transport import Pool

log = logging.getLogger(__name__)
PROBLEM_TYPE = "urn:gateway:error"
SERVER_META = "io.chora/server"


def unavailable(server: str, detail: str) -> types.CallToolResult:
    """The caller's answer when a backend failed or timed out: a problem naming the server."""
    from mcp import types

    hint = f"Try again later; `ecosystem_health` shows whether {server!r} is up and its breaker closed."
    problem = Unavailable(f"Server {server!r} did not answer: {detail}", hint=hint).to_problem(PROBLEM_TYPE)
    problem["server"] = server
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(problem))], structured_content=problem, is_error=True
    )


class Federation:
    def __init__(self, settings: GatewaySettings, own_name: str = "gateway") -> None:
        self.settings = settings
        self.own_name = own_name
        self._changes: SubscriptionBus | None = None
        self.instances: list[dict[str, Any]] = []  # the registry's last snapshot, all statuses
        self.servers: dict[str, ServerBackends] = {}
        self._tools: list[types.Tool] = []
        self._routes: dict[str, tuple[ServerBackends, str, bool]] = {}  # name -> backend, tool, read-only
        self._schemas: dict[str, dict[str, Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._http: Pool | None = None
        self.follower: Follower | None = None

    @property
    def changes(self) -> SubscriptionBus:
        """Where list changes are published (made on first use: the SDK loads only then)."""
        if self._changes is None:
            from mcp.server.subscriptions import InMemorySubscriptionBus

            self._changes = InMemorySubscriptionBus()
        return self._changes

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Begin following the registry (needs a running event loop; idempotent)."""
        if self._runner is not None or not self.settings.registry_url:
            return
        import httpx

        from .membership import Follower
        from .transport import Pool

        # Long-lived keep-alive connections to every backend instance, each request written in one piece.
        self._http = Pool()
        registry = httpx.AsyncClient(base_url=self.settings.registry_url.rstrip("/"), timeout=10)
        self.follower = Follower(registry, self.settings.watch_wait_seconds, self._apply)
        self._runner = asyncio.get_running_loop().create_task(self.follower.run(), name="gateway-membership")

    def stop(self) -> None:
        for task in [self._runner, *self._tasks]:
            if task is not None:
                task.cancel()
        self._runner = None
        if self._http is not None:
            self._http.close()

    def _ensure_started(self) -> None:
        # Over stdio nothing calls start(): the first request that needs the federation does.
        if self._runner is None:
            with contextlib.suppress(RuntimeError):
                self.start()

    # -- membership ----------------------------------------------------------------------------

    async def _apply(self, instances: list[dict[str, Any]]) -> None:
        """A fresh registry snapshot: update each server's instances, drop the departed."""
        self.instances = instances
        wanted: dict[str, dict[str, str]] = {}
        versions: dict[str, str] = {}
        for record in instances:
            name = record["name"]
            mcp_url = (record.get("interfaces") or {}).get("mcp")
            if record.get("status") != "up" or not mcp_url or name == self.own_name:
                continue
            if not self.settings.exposes(name, list(record.get("tags") or [])):
                continue
            wanted.setdefault(name, {})[record["instance_id"]] = mcp_url
            versions[name] = str(record.get("version") or "")
        changed = False
        for name in set(self.servers) - set(wanted):
            del self.servers[name]
            changed = True
        assert self._http is not None
        for name, urls in wanted.items():
            backend = self.servers.get(name)
            if backend is None:
                backend = self.servers[name] = ServerBackends(name, self.settings, self._http)
            backend.set_instances(urls)
            if backend.version != versions[name]:
                backend.version = versions[name]
                self._spawn(self._fetch_tools(backend))
        if changed:
            await self._rebuild()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def refetch(self, backend: ServerBackends) -> bool:
        """Fetch a server's tools once, under the list deadline; False when it did not answer."""
        try:
            with anyio.fail_after(self.settings.list_timeout_seconds):
                result = await backend.request("tools/list", {}, {}, retry_sent=True)
        except (Unreachable, TimeoutError) as exc:
            log.warning("tools of %s not fetched: %s", backend.name, getattr(exc, "detail", "timed out"))
            return False
        tools = result.get("tools") if isinstance(result, dict) else None
        backend.tools = [t for t in tools or [] if isinstance(t, dict) and isinstance(t.get("name"), str) and t["name"]]
        if len(backend.tools) != len(tools or []):
            log.warning("%s listed tools without a name; skipped", backend.name)
        await self._rebuild()
        return True

    async def _fetch_tools(self, backend: ServerBackends) -> None:
        """Fetch a server's tools, retrying while it stays a member and has none listed."""
        delay = 0.2
        while self.servers.get(backend.name) is backend and not await self.refetch(backend):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _rebuild(self) -> None:
        from mcp import types
        from mcp.server.subscriptions import ToolsListChanged

        from ..operations import OPERATIONS  # the gateway's own tools keep their names

        tools: list[types.Tool] = []
        routes: dict[str, tuple[ServerBackends, str, bool]] = {}
        taken = {op.name for op in OPERATIONS}
        for name in sorted(self.servers):
            backend = self.servers[name]
            for raw in backend.tools or []:
                public = public_name(name, raw["name"])
                if public in taken or public in routes:
                    log.warning("tool %r of %s would be listed as %r, taken; skipped", raw["name"], name, public)
                    continue
                meta = {**(raw.get("_meta") or {}), SERVER_META: name, "io.chora/tool": raw["name"]}
                try:
                    tool = types.Tool.model_validate({**raw, "name": public, "_meta": meta})
                except ValueError:
                    log.warning("tool %r of %s is not a valid MCP tool; skipped", raw.get("name"), name)
                    continue
                read_only = bool((raw.get("annotations") or {}).get("readOnlyHint"))
                tools.append(tool)
                routes[public] = (backend, raw["name"], read_only)
        if [t.name for t in tools] == [t.name for t in self._tools] and tools == self._tools:
            return
        self._tools, self._routes = tools, routes
        self._schemas = {t.name: t.input_schema for t in tools}
        await self.changes.publish(ToolsListChanged())

    # -- the MCP interface's hook (DynamicTools) --------------------------------------------------

    def tools(self) -> list[types.Tool]:
        """The federated tools; a new list object after every change, the same one otherwise."""
        self._ensure_started()
        return self._tools

    def tools_now(self) -> list[types.Tool]:
        return self._tools

    def schema(self, name: str) -> dict[str, Any] | None:
        return self._schemas.get(name)

    async def call(self, name: str, arguments: dict[str, Any], ctx: Any) -> types.CallToolResult | None:
        self._ensure_started()
        route = self._routes.get(name)
        if route is None:
            return None
        backend, tool, read_only = route
        headers: dict[str, str] = {}
        tracing.outgoing(headers)  # the caller's request id and trace context, to the backend
        meta = {k: v for k, v in _meta_of(ctx).items() if not k.startswith("io.modelcontextprotocol/")}
        params: dict[str, Any] = {"name": tool, "arguments": arguments}
        if meta:
            params["_meta"] = meta
        try:
            with anyio.fail_after(self.settings.call_timeout_seconds):
                result = await backend.request(
                    "tools/call", params, headers, retry_sent=read_only, on_progress=_relay(ctx)
                )
        except TimeoutError:
            return unavailable(backend.name, f"no answer within {self.settings.call_timeout_seconds} s")
        except Unreachable as exc:
            return unavailable(backend.name, exc.detail)
        from mcp import types

        # Per-hop protocol fields (the backend's serverInfo, ...) describe the backend's answer
        # to the gateway, not the gateway's to its caller; the SDK stamps its own.
        meta = {k: v for k, v in (result.get("_meta") or {}).items() if not k.startswith("io.modelcontextprotocol/")}
        result = {**result, "_meta": meta or None}
        try:
            return types.CallToolResult.model_validate(result)
        except ValueError:
            return unavailable(backend.name, "its answer is not a tool result")


def _meta_of(ctx: Any) -> dict[str, Any]:
    """The caller's ``_meta`` (trace context, progress token, ...) as a plain dict, in wire names."""
    meta = getattr(ctx, "meta", None)
    if meta is None:
        return {}
    if hasattr(meta, "model_dump"):
        return dict(meta.model_dump(by_alias=True, exclude_none=True))
    found = dict(meta) if isinstance(meta, dict) else {}
    # The SDK hands the request's _meta over with the progress token under its Python name;
    # the backend reads the protocol's.
    if "progress_token" in found:
        found["progressToken"] = found.pop("progress_token")
    return found


def _relay(ctx: Any) -> Any:
    """Pass a backend's progress on to the caller, under the caller's own progress token.

    Sent as progress of the caller's request (``report_progress``), so it travels on that
    request's own response stream: over stateless HTTP there is no other stream to carry it.
    """
    session = getattr(ctx, "session", None)
    if _meta_of(ctx).get("progressToken") is None or session is None:
        return None

    async def relay(params: dict[str, Any]) -> None:
        total = params.get("total")
        with contextlib.suppress(Exception):  # progress is advisory: never fail the call over it
            await session.report_progress(
                float(params.get("progress", 0)), None if total is None else float(total), params.get("message")
            )

    return relay
