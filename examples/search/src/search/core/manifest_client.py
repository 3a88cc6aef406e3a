"""Client of the manifest registry: register on start, heartbeat, deregister, look peers up.

The server's lifespan runs ``start()`` and ``stop()``; nothing here may stop the server:

- no registry configured: the server runs standalone and says so once in its log;
- registry unreachable: registration and heartbeats retry with exponential backoff and
  jitter, forever, in the background;
- registry back (or it forgot this instance): the next heartbeat gets ``instance_not_found``
  and the client registers again;
- clean shutdown: one deregistration attempt with a short timeout, of this process's own
  instance only.

Ownership: the registry answers a registration with a lease token; the client keeps it and
sends it with every heartbeat, re-registration and the deregistration, so no other registrant
can touch this instance and this one touches no other. The instance id is unique per process
(host, port and a random suffix), so two servers on one host never share a record.

Peers are found by name, never by a hard-coded address::

    url = client.lookup_url("orchestrator")           # REST base URL of an `up` instance
    records = client.lookup("orchestrator")           # every `up` instance, cached briefly
    client.forget("orchestrator")                     # an instance failed: ask again next time

Domain code calls peers through ``core/peers.py`` (Recommended and up), which uses these.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from . import tracing

log = logging.getLogger(__name__)

API_PREFIX = "/v1"


def _path(name: str, instance_id: str, suffix: str = "") -> str:
    return f"{API_PREFIX}/instances/{quote(name, safe='')}/{quote(instance_id, safe='')}{suffix}"


class ManifestClient:
    """Keeps one server registered with the manifest registry for as long as it runs."""

    def __init__(
        self,
        registry_url: str | None,
        token: str | None,
        record_factory: Callable[[], dict[str, Any]],
        *,
        heartbeat_seconds: float = 5.0,
        cache_seconds: float = 5.0,
        timeout: float = 3.0,
        max_backoff: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.registry_url = registry_url.rstrip("/") if registry_url else None
        self.record_factory = record_factory
        self.heartbeat_seconds = heartbeat_seconds
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self.max_backoff = max_backoff
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._record: dict[str, Any] | None = None
        self.lease_token: str | None = None
        self._cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._cache_lock = threading.Lock()
        self.registered = asyncio.Event()
        self.registrations = 0
        self.failures = 0
        self._said_standalone = False

    # -- construction from a rendered server's settings ----------------------------------------

    @classmethod
    def from_settings(cls, settings: Any, operations: Any = None) -> ManifestClient:
        """A client describing this server from its settings and installed distribution."""
        package = __package__.split(".")[0] if __package__ else "server"
        suffix = secrets.token_hex(3)  # one per process: the id stays put across re-registrations
        return cls(
            getattr(settings, "registry_url", None),
            getattr(settings, "registry_token", None),
            lambda: describe_server(settings, package, operations, suffix=suffix),
        )

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin registering and heartbeating in the background; never raises, never blocks."""
        if not self.registry_url:
            if not self._said_standalone:
                log.info("no manifest registry configured: running standalone")
                self._said_standalone = True
            return
        self._record = self.record_factory()
        self._http = httpx.AsyncClient(
            base_url=self.registry_url,
            headers=self._headers,
            timeout=self.timeout,
            transport=self._transport,
            event_hooks={"request": [_stamp]},
        )
        self._task = asyncio.create_task(self._run(), name="manifest-client")

    async def stop(self) -> None:
        """Stop heartbeating and deregister (one quick attempt; failures are only logged)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._http is None or self._record is None:
            return
        try:
            if self.registered.is_set():
                response = await self._http.delete(
                    _path(self._record["name"], self._record["instance_id"]),
                    params=self._lease(),
                    timeout=2.0,
                )
                if response.status_code not in (200, 404):
                    log.warning("deregistration answered %s", response.status_code)
        except httpx.HTTPError as exc:
            log.warning("could not deregister from the manifest registry: %s", exc)
        finally:
            await self._http.aclose()
            self._http = None
            self.registered.clear()

    # -- the background loop -------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._http is not None and self._record is not None
        backoff = 0.5
        interval = self.heartbeat_seconds
        need_register = True
        while True:
            try:
                if need_register:
                    # a re-registration brings the lease it holds, so it reclaims its own record
                    response = await self._http.post(f"{API_PREFIX}/instances", json=self._record | self._lease())
                    if response.status_code != 200:
                        raise _Refused(response)
                    self.lease_token = response.json().get("lease_token") or self.lease_token
                    self.registrations += 1
                    self.registered.set()
                    need_register = False
                    log.info("registered with the manifest registry at %s", self.registry_url)
                    continue  # heartbeat at once: its answer carries the interval to keep
                else:
                    response = await self._http.put(
                        _path(self._record["name"], self._record["instance_id"], "/heartbeat"),
                        json=self._lease(),
                    )
                    if response.status_code == 404:
                        need_register = True  # the registry forgot us: register again now
                        log.info("manifest registry does not know this instance; registering")
                        continue
                    if response.status_code != 200:
                        raise _Refused(response)
                    interval = float(response.json().get("heartbeat_seconds", interval))
                backoff = 0.5
                # jitter spreads heartbeats so restarts do not synchronise a whole fleet
                await asyncio.sleep(interval * random.uniform(0.8, 1.0))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let the registry take the server down
                self.failures += 1
                if self.failures == 1 or self.failures % 20 == 0:
                    log.warning("manifest registry unavailable (%s); retrying", _describe(exc))
                if isinstance(exc, _Refused) and exc.status in (401, 403, 422):
                    backoff = self.max_backoff  # a configuration problem: retry slowly
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                # Back off, but never past one heartbeat interval while the problem may be an
                # outage: a restarted registry grants only one TTL of grace, and a client still
                # sleeping through it would be marked unknown although it is healthy.
                ceiling = self.max_backoff if isinstance(exc, _Refused) and exc.status in (401, 403, 422) else interval
                backoff = min(backoff * 2, ceiling)
                if not isinstance(exc, _Refused):
                    # after an outage the registry may have lost us; a register is idempotent
                    need_register = True

    def _lease(self) -> dict[str, str]:
        return {"lease_token": self.lease_token} if self.lease_token else {}

    # -- discovery -----------------------------------------------------------------------------

    def lookup(self, name: str, *, status: str | None = "up") -> list[dict[str, Any]]:
        """Instances registered under ``name`` (only ``up`` ones by default), cached briefly.

        Returns an empty list when the name is unknown, when no registry is configured, or
        when the registry cannot be reached and nothing is cached.
        """
        if not self.registry_url:
            return []
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(name)
        if hit and now - hit[0] < self.cache_seconds:
            records = hit[1]
        else:
            try:
                response = httpx.get(
                    f"{self.registry_url}{API_PREFIX}/services/{quote(name, safe='')}",
                    timeout=self.timeout,
                    headers=_stamped() | self._headers,
                )
            except httpx.HTTPError:
                return [r for r in (hit[1] if hit else []) if status in (None, r.get("status"))]
            if response.status_code == 404:
                records = []
            elif response.status_code == 200:
                records = response.json().get("instances", [])
            else:
                return [r for r in (hit[1] if hit else []) if status in (None, r.get("status"))]
            with self._cache_lock:
                self._cache[name] = (now, records)
        return [r for r in records if status in (None, r.get("status"))]

    def forget(self, name: str) -> None:
        """Drop what is cached about ``name``: the next lookup asks the registry (an instance
        just failed, so the list may be stale)."""
        with self._cache_lock:
            self._cache.pop(name, None)

    def lookup_url(self, name: str, interface: str = "rest") -> str | None:
        """One endpoint of an ``up`` instance of ``name`` (chosen at random), or None."""
        endpoints = [r["interfaces"][interface] for r in self.lookup(name) if r.get("interfaces", {}).get(interface)]
        return random.choice(endpoints) if endpoints else None


async def _stamp(request: httpx.Request) -> None:
    tracing.outgoing(request.headers)  # traceparent and X-Request-ID on every registry call


def _stamped() -> dict[str, str]:
    headers: dict[str, str] = {}
    tracing.outgoing(headers)
    return headers


class _Refused(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.status = response.status_code
        try:
            self.code = response.json().get("code")
        except ValueError:
            self.code = None


def _describe(exc: Exception) -> str:
    if isinstance(exc, _Refused):
        return f"HTTP {exc.status} {exc.code or ''}".strip()
    return type(exc).__name__


def declared_peers(settings: Any) -> list[str]:
    """The servers this one calls, declared once, in ``pyproject.toml``::

        [tool.chora-base]
        dependencies = ["notes-server"]

    The orchestrator reads that table and passes it on as the ``dependencies`` setting, which
    wins when set; a server run from its own checkout (the template installs it editable) reads
    the table itself. It is what the server registers as its dependencies and the only peers
    ``core/peers.py`` lets it call; the compliance checker compares it with the code's calls.
    """
    configured = list(getattr(settings, "dependencies", None) or [])
    if configured:
        return configured
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"  # <root>/src/<pkg>/core/
    try:
        table = tomllib.loads(pyproject.read_text()).get("tool", {}).get("chora-base", {})
    except (OSError, tomllib.TOMLDecodeError):  # an installed wheel: no pyproject beside it
        return []
    found = table.get("dependencies", [])
    return [str(name) for name in found] if isinstance(found, list) else []


def describe_server(settings: Any, package: str, operations: Any = None, *, suffix: str = "") -> dict[str, Any]:
    """The registration record of this server: name, instance id, version and interfaces.

    The address is the one this process serves (``settings.host``/``settings.port``, which
    ``serve --host/--port`` set), or ``settings.public_url`` when peers reach it through a
    proxy. Tags come from settings, dependencies from ``declared_peers``.
    """
    from importlib import metadata

    dist_name, version, cli = package.replace("_", "-"), "0.0.0", None
    with contextlib.suppress(Exception):
        dist_name = metadata.packages_distributions().get(package, [dist_name])[0]
        dist = metadata.distribution(dist_name)
        version = dist.version
        cli = next((ep.name for ep in dist.entry_points if ep.group == "console_scripts"), None)
    host = getattr(settings, "host", "127.0.0.1")
    port = getattr(settings, "port", 8000)
    public = getattr(settings, "public_url", None)
    if not public:
        shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
        shown = f"[{shown}]" if ":" in shown else shown  # an IPv6 literal in a URL
        public = f"http://{shown}:{port}"
    public = public.rstrip("/")
    interfaces: dict[str, str] = {"rest": public, "python": package}
    if cli:
        interfaces["cli"] = cli
    with contextlib.suppress(ImportError, ValueError):
        if importlib.util.find_spec(f"{package}.interfaces.mcp") is not None:
            interfaces["mcp"] = f"{public}/mcp"
    host_label = "".join(c if c.isalnum() or c in "._-" else "-" for c in socket.gethostname()) or "host"
    instance = f"{host_label[:100]}-{port}" + (f"-{suffix}" if suffix else "")
    return {
        "name": dist_name,
        "instance_id": instance[:128],
        "version": version,
        "interfaces": interfaces,
        "tags": list(getattr(settings, "tags", None) or []),
        "dependencies": declared_peers(settings),
        "metadata": {"operations": str(len(operations or ()))},
    }
