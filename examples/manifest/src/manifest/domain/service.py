"""The registry service: registration, heartbeats, health, lookups and watch.

State lives in memory and is written through to a repository (SQLite or etcd):
records and status transitions are persisted, heartbeats only touch memory.

Health, with the defaults (all configurable through ``MANIFEST_*`` settings):

- an instance heartbeats every 5 s; silent for longer than the TTL (15 s) it becomes
  ``unknown``; still silent after a further grace (60 s) it is removed;
- after the registry starts, every stored instance gets one TTL of grace before it can lapse;
- self-preservation: when one sweep would lapse at least 15 % (and at least 3) of the ``up``
  instances, the registry assumes the fault is on its side: the instances still become
  ``unknown`` but removals are deferred and rate-limited until enough heartbeats come back;
- flap damping: an event is recorded only when a status actually changes.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from ..core.settings import EnvSettings
from .errors import InstanceNotFound, RevisionCompacted, ServiceNotFound
from .models import (
    Dependencies,
    Deregistered,
    Event,
    EventType,
    HeartbeatAck,
    InstanceId,
    InstanceList,
    InterfaceKind,
    Interfaces,
    InterfacesInput,
    Metadata,
    ReportedStatus,
    ServiceName,
    Status,
    Tag,
    Tags,
    Version,
    WatchResult,
)
from .models import Instance as Instance
from .repository import Key, Repository, SQLiteRepository, StaleRevision

log = logging.getLogger("manifest.registry")

WAIT_LIMIT = 60.0


class RegistrySettings(EnvSettings):
    """Registry knobs, read from ``MANIFEST_*`` environment variables."""

    backend: Literal["sqlite", "etcd"] = "sqlite"
    etcd_endpoints: str = Field(default="http://127.0.0.1:2379", description="Comma-separated etcd client URLs.")
    etcd_prefix: str = "/manifest"
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    ttl_seconds: float = Field(default=15.0, gt=0)
    grace_seconds: float = Field(default=60.0, ge=0)
    sweep_seconds: float = Field(default=1.0, gt=0)
    self_preservation: bool = True
    self_preservation_ratio: float = Field(default=0.15, ge=0, le=1)
    self_preservation_min: int = Field(default=3, ge=1)
    removals_per_minute: float = Field(
        default=6.0, ge=0, description="Removal budget while self-preservation is active."
    )
    event_history: int = Field(default=10_000, ge=10)


class Service:
    """The manifest registry: where capability servers register and find each other."""

    def __init__(
        self,
        repository: Repository,
        config: RegistrySettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or RegistrySettings()
        self._repo = repository
        self._clock = clock
        self._wall = wall
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._records: dict[Key, Instance] = {}
        self._beats: dict[Key, float] = {}
        self._unknown_since: dict[Key, float] = {}
        self._fresh: set[Key] = set()
        self._log: list[Event] = []
        self._log_revs: list[int] = []
        self._floor = 0
        self._revision = 0
        self.self_preservation = False
        self._removal_tokens = 0.0
        self._last_sweep = clock()
        self.heartbeats_total = 0
        self.removed_total = 0
        self.lapsed_total = 0
        self._hb_sample = (clock(), 0)
        self.heartbeat_rate = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._armed = False
        self._loaded_at = clock()
        self._load()

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Any) -> Service:
        """Build the registry from the application settings (backend chosen by MANIFEST_BACKEND)."""
        config = RegistrySettings()
        if config.backend == "etcd":
            from .etcd import EtcdRepository

            endpoints = [e.strip() for e in config.etcd_endpoints.split(",") if e.strip()]
            repo: Repository = EtcdRepository(endpoints, prefix=config.etcd_prefix, ttl_seconds=config.ttl_seconds)
        else:
            data_dir = Path(getattr(settings, "data_dir", None) or ".")
            repo = SQLiteRepository(data_dir / "manifest.sqlite3", synchronous=config.sqlite_synchronous)
        service = cls(repo, config)
        service.start()
        expose_metrics(service)
        return service

    def _load(self) -> None:
        revision, records = self._repo.load()
        now = self._clock()
        wall = self._wall()
        ttl, grace = self.config.ttl_seconds, self.config.grace_seconds
        with self._lock:
            old_beats = self._beats
            self._records = {(r.name, r.instance_id): r for r in records}
            self._beats = {}
            self._unknown_since = {}
            for key, record in self._records.items():
                # restart grace: nothing lapses before one TTL after (re)loading
                self._beats[key] = old_beats.get(key, now)
                if record.status == "unknown":
                    since = now - max(0.0, wall - record.status_changed_at)
                    self._unknown_since[key] = max(since, now + ttl - grace)
            self._revision = revision
            self._floor = revision
            self._log.clear()
            self._log_revs.clear()
            self._changed.notify_all()

    def _arm(self) -> None:
        """Start the restart grace when traffic starts, not when the process started.

        A registry can take seconds between loading its store and answering requests; the
        TTL of grace every stored instance gets must not be spent before anyone can heartbeat.
        """
        with self._lock:
            if self._armed:
                return
            now = self._clock()
            floor = now + self.config.ttl_seconds - self.config.grace_seconds
            for key in self._records:
                self._beats[key] = max(self._beats.get(key, now), now)
            for key, since in self._unknown_since.items():
                self._unknown_since[key] = max(since, floor)
            self._armed = True

    def start(self) -> None:
        """Start the background sweeper (idempotent)."""
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="manifest-sweeper", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the sweeper and release the storage backend."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self._repo.close()

    def _run(self) -> None:
        while not self._stop.wait(self.config.sweep_seconds):
            try:
                self.sweep()
            except Exception:  # the sweeper must survive a backend hiccup
                log.exception("registry sweep failed; retrying on the next tick")

    # -- internals ---------------------------------------------------------------------------

    def _sync(self) -> None:
        """Reload when another process wrote to the store (e.g. a local CLI call)."""
        if self._repo.changed_elsewhere():
            self._load()

    def _commit(self, changes: list[tuple[EventType, Instance | None, Key]], deletes: list[Key]) -> list[Event]:
        """Persist a batch, then apply it to memory and publish its events. Lock held."""
        base = self._revision
        events: list[Event] = []
        puts: list[Instance] = []
        rev = base
        for kind, record, key in changes:
            rev += 1
            if record is not None:
                record = record.model_copy(update={"revision": rev})
                puts.append(record)
            events.append(
                Event(
                    revision=rev,
                    type=kind,
                    name=key[0],
                    instance_id=key[1],
                    status=record.status if record else None,
                    instance=record,
                )
            )
        self._repo.apply(puts, deletes, base, rev)  # raises before memory changes
        for record in puts:
            self._records[(record.name, record.instance_id)] = record
        for key in deletes:
            self._records.pop(key, None)
            self._beats.pop(key, None)
            self._unknown_since.pop(key, None)
        self._revision = rev
        for event in events:
            self._log.append(event)
            self._log_revs.append(event.revision)
        limit = self.config.event_history
        if len(self._log) > 2 * limit:
            drop = len(self._log) - limit
            self._floor = self._log_revs[drop - 1]
            del self._log[:drop]
            del self._log_revs[:drop]
        self._changed.notify_all()
        return events

    def _mutate(self, fn: Callable[[], Any]) -> Any:
        """Run a read-modify-write under the lock, retrying once on a stale store."""
        with self._lock:
            self._sync()
            try:
                return fn()
            except StaleRevision:
                self._load()
                return fn()

    def _get(self, name: str, instance_id: str) -> Instance:
        record = self._records.get((name, instance_id))
        if record is None:
            raise InstanceNotFound(f"no instance {instance_id!r} of {name!r} is registered; register it first")
        return record

    def _view(self, record: Instance) -> Instance:
        """The record with its in-memory last heartbeat."""
        key = (record.name, record.instance_id)
        beat = self._beats.get(key)
        if beat is None:
            return record
        seen = self._wall() - (self._clock() - beat)
        return record.model_copy(update={"last_heartbeat": max(seen, record.registered_at)})

    # -- operations --------------------------------------------------------------------------

    def register(
        self,
        *,
        name: ServiceName,
        instance_id: InstanceId,
        version: Version = "0.0.0",
        interfaces: InterfacesInput | None = None,
        tags: Tags | None = None,
        dependencies: Dependencies | None = None,
        metadata: Metadata | None = None,
    ) -> Instance:
        """Register an instance, or refresh it if this name and instance id exist already.

        Registering is idempotent: the same name and instance id never make a second
        record; the record takes the new fields, counts as a heartbeat and becomes ``up``.
        """
        if not self._armed:
            self._arm()
        interfaces = interfaces or Interfaces()
        fields = {
            "version": version,
            "interfaces": interfaces,
            "tags": list(tags or []),
            "dependencies": list(dependencies or []),
            "metadata": dict(metadata or {}),
        }
        key = (name, instance_id)

        def apply() -> Instance:
            now, wall = self._clock(), self._wall()
            current = self._records.get(key)
            if current is None:
                record = Instance(
                    name=name,
                    instance_id=instance_id,
                    status="up",
                    reported_status="up",
                    registered_at=wall,
                    last_heartbeat=wall,
                    status_changed_at=wall,
                    revision=0,
                    **fields,
                )
                self._commit([("registered", record, key)], [])
            else:
                update: dict[str, Any] = {k: v for k, v in fields.items() if getattr(current, k) != v}
                if current.status != "up" or current.reported_status != "up":
                    update |= {
                        "status": "up",
                        "reported_status": "up",
                        "status_reason": None,
                        "status_changed_at": wall,
                    }
                if update:
                    record = current.model_copy(update=update | {"last_heartbeat": wall})
                    kind: EventType = "updated" if set(update) & set(fields) else "status"
                    self._commit([(kind, record, key)], [])
            self._beats[key] = now
            self._unknown_since.pop(key, None)
            return self._view(self._records[key])

        return self._mutate(apply)

    def update(
        self,
        *,
        name: ServiceName,
        instance_id: InstanceId,
        version: Version | None = None,
        interfaces: InterfacesInput | None = None,
        tags: Tags | None = None,
        dependencies: Dependencies | None = None,
        metadata: Metadata | None = None,
    ) -> Instance:
        """Change some fields of a registered instance (omitted fields stay as they are)."""
        if not self._armed:
            self._arm()
        given = {
            "version": version,
            "interfaces": interfaces,
            "tags": None if tags is None else list(tags),
            "dependencies": None if dependencies is None else list(dependencies),
            "metadata": None if metadata is None else dict(metadata),
        }

        def apply() -> Instance:
            current = self._get(name, instance_id)
            update = {k: v for k, v in given.items() if v is not None and getattr(current, k) != v}
            if update:
                record = current.model_copy(update=update)
                self._commit([("updated", record, (name, instance_id))], [])
            return self._view(self._records[(name, instance_id)])

        return self._mutate(apply)

    def heartbeat(self, *, name: ServiceName, instance_id: InstanceId) -> HeartbeatAck:
        """Tell the registry an instance is alive; an ``unknown`` instance comes back.

        An instance the registry no longer knows gets ``instance_not_found``: register again.
        """
        if not self._armed:
            self._arm()
        key = (name, instance_id)
        with self._lock:
            record = self._records.get(key)
            if record is None:
                self._sync()
                record = self._get(name, instance_id)
            self._beats[key] = self._clock()
            self.heartbeats_total += 1
            if record.status == "unknown":
                self._unknown_since.pop(key, None)
                record = self._transition(record, record.reported_status, "heartbeat resumed")
            return HeartbeatAck(
                name=name,
                instance_id=instance_id,
                status=record.status,
                ttl_seconds=self.config.ttl_seconds,
                heartbeat_seconds=self.config.heartbeat_seconds,
                self_preservation=self.self_preservation,
            )

    def _transition(self, record: Instance, status: Status, reason: str | None) -> Instance:
        """Persist a status change (lock held); no event when the status is unchanged."""
        if record.status == status:
            return record
        changed = record.model_copy(
            update={"status": status, "status_reason": reason, "status_changed_at": self._wall()}
        )
        key = (record.name, record.instance_id)
        try:
            self._commit([("status", changed, key)], [])
        except StaleRevision:
            self._load()
            return self._records.get(key, record)
        return self._records[key]

    def report_status(
        self,
        *,
        name: ServiceName,
        instance_id: InstanceId,
        status: ReportedStatus,
        reason: Annotated[str, Field(max_length=256)] | None = None,
    ) -> Instance:
        """Report an instance's own health: ``up``, ``down`` (unhealthy) or ``draining``.

        The report also counts as a heartbeat. An instance reported ``down`` or
        ``draining`` keeps that status while it heartbeats, until it reports ``up``.
        """
        if not self._armed:
            self._arm()
        key = (name, instance_id)

        def apply() -> Instance:
            current = self._get(name, instance_id)
            wall = self._wall()
            update: dict[str, Any] = {}
            if current.reported_status != status:
                update["reported_status"] = status
            if current.status != status:
                update |= {"status": status, "status_changed_at": wall}
            if (reason or None) != current.status_reason and (update or reason):
                update["status_reason"] = reason
            if update:
                record = current.model_copy(update=update)
                self._commit([("status", record, key)], [])
            self._beats[key] = self._clock()
            self._unknown_since.pop(key, None)
            return self._view(self._records[key])

        return self._mutate(apply)

    def deregister(self, *, name: ServiceName, instance_id: InstanceId) -> Deregistered:
        """Remove an instance now (a clean shutdown); its watchers see a deregistered event."""
        if not self._armed:
            self._arm()
        key = (name, instance_id)

        def apply() -> Deregistered:
            self._get(name, instance_id)
            self._commit([("deregistered", None, key)], [key])
            return Deregistered(name=name, instance_id=instance_id, index=self._revision)

        return self._mutate(apply)

    def get(self, *, name: ServiceName) -> InstanceList:
        """Every instance registered under a service name, whatever its status."""
        if not self._armed:
            self._arm()
        with self._lock:
            self._sync()
            found = [self._view(r) for k, r in self._records.items() if k[0] == name]
            if not found:
                raise ServiceNotFound(f"no instance of {name!r} is registered")
            found.sort(key=lambda r: r.instance_id)
            return InstanceList(index=self._revision, self_preservation=self.self_preservation, instances=found)

    def list(
        self,
        *,
        status: Status | None = None,
        tag: Tag | None = None,
        interface: InterfaceKind | None = None,
        name: ServiceName | None = None,
    ) -> InstanceList:
        """List instances, optionally only those with a status, a tag, an interface or a name."""
        if not self._armed:
            self._arm()
        with self._lock:
            self._sync()
            found = [
                self._view(r)
                for r in self._records.values()
                if (status is None or r.status == status)
                and (tag is None or tag in r.tags)
                and (interface is None or getattr(r.interfaces, interface))
                and (name is None or r.name == name)
            ]
            found.sort(key=lambda r: (r.name, r.instance_id))
            return InstanceList(index=self._revision, self_preservation=self.self_preservation, instances=found)

    def watch(
        self,
        *,
        index: Annotated[int, Field(ge=0)] = 0,
        name: ServiceName | None = None,
        wait: Annotated[float, Field(ge=0, le=WAIT_LIMIT)] = 30.0,
    ) -> WatchResult:
        """Wait for changes after ``index`` (a long poll); answers at once if there are some.

        Take ``index`` from a list, get or previous watch answer. An index older than the
        history the registry keeps (or from before a registry restart) answers
        ``revision_compacted``: list again, then watch from the new index.
        """
        if not self._armed:
            self._arm()
        wait = min(max(wait, 0.0), WAIT_LIMIT)
        deadline = self._clock() + wait
        with self._lock:
            self._sync()
            while True:
                if index < self._floor or index > self._revision:
                    raise RevisionCompacted(
                        f"index {index} is outside the history the registry keeps "
                        f"({self._floor}..{self._revision}); list again and watch from its index"
                    )
                start = bisect.bisect_right(self._log_revs, index)
                events = [e for e in self._log[start:] if name is None or e.name == name]
                remaining = deadline - self._clock()
                if events or remaining <= 0:
                    return WatchResult(
                        index=self._revision,
                        self_preservation=self.self_preservation,
                        events=events,
                    )
                self._changed.wait(min(remaining, 1.0))

    # -- health ------------------------------------------------------------------------------

    def sweep(self) -> None:
        """Apply TTL and grace: lapse silent instances to unknown, remove the long silent."""
        cfg = self.config
        with self._lock:
            self._sync()
            now = self._clock()
            elapsed = max(0.0, now - self._last_sweep)
            self._last_sweep = now
            # heartbeat rate (for metrics)
            t0, n0 = self._hb_sample
            if now - t0 >= 1.0:
                self.heartbeat_rate = (self.heartbeats_total - n0) / (now - t0)
                self._hb_sample = (now, self.heartbeats_total)

            if not self._armed:
                if now - self._loaded_at < max(cfg.grace_seconds, 3 * cfg.ttl_seconds, 30.0):
                    return  # nobody can heartbeat yet: the restart grace has not begun
                self._arm()
            lapsing = [
                k
                for k, r in self._records.items()
                if r.status != "unknown" and now - self._beats.get(k, now) > cfg.ttl_seconds
            ]
            up_count = sum(1 for r in self._records.values() if r.status == "up")
            lapsing_up = sum(1 for k in lapsing if self._records[k].status == "up")
            if (
                cfg.self_preservation
                and not self.self_preservation
                and lapsing_up >= max(cfg.self_preservation_min, math.ceil(cfg.self_preservation_ratio * up_count))
            ):
                self.self_preservation = True
                self._removal_tokens = 0.0
                log.warning(
                    "self-preservation on: %d of %d up instances lapsed in one sweep; removals deferred",
                    lapsing_up,
                    up_count,
                )
            changes: list[tuple[EventType, Instance | None, Key]] = []
            wall = self._wall()
            for key in lapsing:
                record = self._records[key]
                changes.append(
                    (
                        "status",
                        record.model_copy(
                            update={
                                "status": "unknown",
                                "status_reason": f"no heartbeat for {cfg.ttl_seconds:g}s",
                                "status_changed_at": wall,
                            }
                        ),
                        key,
                    )
                )
            due = sorted(
                (since, k)
                for k, since in self._unknown_since.items()
                if now - since >= cfg.grace_seconds and k in self._records
            )
            if self.self_preservation:
                # no bursts: removals trickle out at the configured rate
                self._removal_tokens = min(self._removal_tokens + elapsed * cfg.removals_per_minute / 60.0, 1.0)
                allowed = int(self._removal_tokens)
                due = due[:allowed]
                self._removal_tokens -= len(due)
            deletes = [k for _, k in due]
            changes.extend(("removed", None, k) for k in deletes)
            if changes:
                try:
                    self._commit(changes, deletes)
                except StaleRevision:
                    self._load()
                    return
                self.lapsed_total += len(lapsing)
                self.removed_total += len(deletes)
                for key in lapsing:
                    self._unknown_since[key] = now
                for key in lapsing:
                    log.info("instance %s/%s is unknown (missed heartbeats)", *key)
                for key in deletes:
                    log.info("instance %s/%s removed after the grace period", *key)
            if self.self_preservation:
                lapsed = len(self._unknown_since)
                population = up_count - lapsing_up + lapsed
                threshold = max(
                    cfg.self_preservation_min,
                    math.ceil(cfg.self_preservation_ratio * max(population, 1)),
                )
                if lapsed < threshold:
                    self.self_preservation = False
                    log.warning("self-preservation off: heartbeats recovered")
            alive = [k for k, beat in self._beats.items() if now - beat <= cfg.ttl_seconds]
        if alive:
            with contextlib.suppress(Exception):
                self._repo.mark_alive(alive)

    # -- introspection (metrics) -------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Instances by effective status."""
        with self._lock:
            out = {"up": 0, "unknown": 0, "down": 0, "draining": 0}
            for record in self._records.values():
                out[record.status] += 1
            return out

    @property
    def revision(self) -> int:
        return self._revision


# -- Prometheus metrics (read at scrape time; nothing on the hot path) ----------------------

_metrics_target: list[Any] = [None]


def expose_metrics(service: Service) -> None:
    """Report this service's figures on the process's Prometheus registry (once per process)."""
    import weakref

    first = _metrics_target[0] is None
    _metrics_target[0] = weakref.ref(service)
    if not first:
        return
    try:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    except ImportError:  # metrics are optional for the domain
        return

    class _Collector:
        def collect(self):  # type: ignore[no-untyped-def]
            ref = _metrics_target[0]
            svc = ref() if ref else None
            if svc is None:
                return
            by_status = GaugeMetricFamily("manifest_instances", "Registered instances by status", labels=["status"])
            for status, count in svc.counts().items():
                by_status.add_metric([status], count)
            yield by_status
            yield CounterMetricFamily("manifest_heartbeats", "Heartbeats received", value=svc.heartbeats_total)
            yield GaugeMetricFamily(
                "manifest_heartbeats_per_second",
                "Heartbeats per second over the last sweep interval",
                value=svc.heartbeat_rate,
            )
            yield GaugeMetricFamily(
                "manifest_self_preservation",
                "1 while removals are deferred after a mass expiry",
                value=1.0 if svc.self_preservation else 0.0,
            )
            yield CounterMetricFamily("manifest_removed", "Instances removed after the grace", value=svc.removed_total)
            yield GaugeMetricFamily("manifest_revision", "Registry revision", value=svc.revision)

    try:
        from ..core.metrics import REGISTRY
    except ImportError:  # tiers without /metrics
        from prometheus_client import REGISTRY
    REGISTRY.register(_Collector())
