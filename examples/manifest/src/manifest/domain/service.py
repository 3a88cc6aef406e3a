"""The registry service: registration, heartbeats, health, lookups and watch.

State lives in memory and is written through to a repository (SQLite or etcd): records and
status transitions are persisted, heartbeats only touch memory. How writes reach storage
without blocking anyone else is explained in ``state.py``; health over time in ``health.py``.

Health, with the defaults (all configurable through ``MANIFEST_*`` settings):

- an instance heartbeats every 5 s; silent for longer than the TTL (15 s) it becomes
  ``unknown``; still silent after a further grace (60 s) it is removed;
- after the registry starts, every stored instance gets one TTL of grace before it can lapse;
- self-preservation: when one sweep would lapse at least 15 % (and at least 3) of the ``up``
  instances, the registry assumes the fault is on its side: the instances still become
  ``unknown`` but removals are deferred and rate-limited until enough heartbeats come back;
- flap damping: an event is recorded only when a status actually changes.

Ownership: register answers a lease token; every later call about that instance carries it
(see ``leases.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.errors import ValidationFailed
from . import leases
from .config import RegistrySettings
from .errors import InstanceNotFound, TooManyInstances
from .metrics import expose_metrics
from .models import (
    Dependencies,
    Deregistered,
    EventType,
    HeartbeatAck,
    InstanceId,
    Interfaces,
    InterfacesInput,
    LeaseToken,
    Metadata,
    Reason,
    Registration,
    ReportedStatus,
    ServiceName,
    Tags,
    Version,
)
from .models import Instance as Instance
from .reads import Reads
from .repository import Key, Repository, SQLiteRepository
from .state import Plan

__all__ = ["Instance", "RegistrySettings", "Service"]


class Service(Reads):
    """The manifest registry: where capability servers register and find each other."""

    def __init__(
        self,
        repository: Repository,
        config: RegistrySettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        store_timeout: float = 5.0,
        max_long_polls: int = 100,
    ) -> None:
        super().__init__(repository, config, clock=clock, wall=wall, store_timeout=store_timeout)
        self._init_sweeper()
        self._init_reads(max_long_polls)

    @classmethod
    def from_settings(cls, settings: Any) -> Service:
        """Build the registry from the application settings (backend chosen by MANIFEST_BACKEND)."""
        config = RegistrySettings()
        timeout = float(getattr(settings, "store_timeout_seconds", 5.0))
        if config.backend == "etcd":
            from .etcd import EtcdRepository

            endpoints = [e.strip() for e in config.etcd_endpoints.split(",") if e.strip()]
            repo: Repository = EtcdRepository(
                endpoints, prefix=config.etcd_prefix, ttl_seconds=config.ttl_seconds, timeout=timeout
            )
        else:
            data_dir = Path(getattr(settings, "data_dir", None) or ".")
            repo = SQLiteRepository(
                data_dir / "manifest.sqlite3", synchronous=config.sqlite_synchronous, timeout=timeout
            )
        service = cls(repo, config, store_timeout=timeout, max_long_polls=int(getattr(settings, "max_long_polls", 100)))
        service.start()
        expose_metrics(service)
        return service

    # -- helpers (state lock held) ---------------------------------------------------------

    def _get(self, name: str, instance_id: str) -> Instance:
        record = self._records.get((name, instance_id))
        if record is None:
            raise InstanceNotFound(f"no instance {instance_id!r} of {name!r} is registered; register it first")
        return record

    def _owned(self, name: str, instance_id: str, lease_token: str | None) -> Instance:
        record = self._get(name, instance_id)
        leases.check(record, lease_token, self.config.operator_token)
        return record

    def _touch(self, key: Key) -> None:
        self._beats.pop(key, None)  # re-inserted last: the table stays in heartbeat order
        self._beats[key] = self._clock()
        self._lookups.pop(key[0], None)
        self._unknown_since.pop(key, None)

    # -- writes ----------------------------------------------------------------------------

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
        lease_token: LeaseToken | None = None,
    ) -> Registration:
        """Register an instance, or refresh it if this name and instance id exist already.

        Registering is idempotent: the same name and instance id never make a second record;
        the record takes the new fields, counts as a heartbeat and becomes ``up``. The answer
        carries the instance's ``lease_token``: keep it, every later call about this instance
        needs it (re-registering an existing instance too). A new instance may bring its own
        token; otherwise the registry makes one.
        """
        self._ready()
        fields = {
            "version": version,
            "interfaces": interfaces or Interfaces(),
            "tags": list(tags or []),
            "dependencies": list(dependencies or []),
            "metadata": dict(metadata or {}),
        }
        key = (name, instance_id)

        def prepare() -> Plan[Registration]:
            wall = self._wall()
            current = self._records.get(key)
            token = lease_token or leases.new_token()
            changes: list[tuple[EventType, Instance | None, Key]] = []
            if current is None:
                self._check_room(name)
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
                record._lease_digest = leases.digest(token)
                changes.append(("registered", record, key))
            else:
                leases.check(current, lease_token, self.config.operator_token)
                update: dict[str, Any] = {k: v for k, v in fields.items() if getattr(current, k) != v}
                if current.status != "up" or current.reported_status != "up":
                    update |= {
                        "status": "up",
                        "reported_status": "up",
                        "status_reason": None,
                        "status_changed_at": wall,
                    }
                claim = current._lease_digest is None  # a record from before leases: claimed now
                if update or claim:
                    record = current.model_copy(update=update | {"last_heartbeat": wall})
                    if claim:
                        record._lease_digest = leases.digest(token)
                    kind: EventType = "updated" if set(update) & set(fields) or not update else "status"
                    changes.append((kind, record, key))

            def after() -> Registration:
                self._touch(key)
                view = self._view(self._records[key])
                return Registration(**view.model_dump(), lease_token=token)

            return Plan(after=after, changes=changes)

        return self._write(prepare)

    def _check_room(self, name: str) -> None:
        """A new instance must fit the registry's bounds (re-registering an existing one always does)."""
        limit, per_name = self.config.max_instances, self.config.max_instances_per_service
        if len(self._records) >= limit:
            raise TooManyInstances(f"the registry holds {limit} instances, its limit")
        if sum(1 for key in self._records if key[0] == name) >= per_name:
            raise TooManyInstances(f"{name!r} has {per_name} instances registered, the limit for one service")

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
        lease_token: LeaseToken | None = None,
    ) -> Instance:
        """Change some fields of a registered instance (omitted fields stay as they are)."""
        self._ready()
        given = {
            "version": version,
            "interfaces": interfaces,
            "tags": None if tags is None else list(tags),
            "dependencies": None if dependencies is None else list(dependencies),
            "metadata": None if metadata is None else dict(metadata),
        }
        if all(v is None for v in given.values()):
            raise ValidationFailed(
                "nothing to update: give at least one of version, interfaces, tags, dependencies, metadata",
                errors=[{"loc": ["body"], "msg": "no field to update", "type": "missing"}],
            )
        key = (name, instance_id)

        def prepare() -> Plan[Instance]:
            current = self._owned(name, instance_id, lease_token)
            update = {k: v for k, v in given.items() if v is not None and getattr(current, k) != v}
            changes: list[tuple[EventType, Instance | None, Key]] = []
            if update:
                changes.append(("updated", current.model_copy(update=update), key))
            return Plan(after=lambda: self._view(self._records[key]), changes=changes)

        return self._write(prepare)

    def heartbeat(
        self, *, name: ServiceName, instance_id: InstanceId, lease_token: LeaseToken | None = None
    ) -> HeartbeatAck:
        """Tell the registry an instance is alive; an ``unknown`` instance comes back.

        Memory only: it never waits on storage. An instance the registry no longer knows
        gets ``instance_not_found``: register again.
        """
        self._ready()
        key = (name, instance_id)
        with self._lock:
            record = self._owned(name, instance_id, lease_token)
            self._touch(key)
            self.heartbeats_total += 1
            status = record.status
            if status == "unknown":
                self._resumed.add(key)  # the sweeper persists the way back
                status = record.reported_status
            return HeartbeatAck(
                name=name,
                instance_id=instance_id,
                status=status,
                ttl_seconds=self.config.ttl_seconds,
                heartbeat_seconds=self.config.heartbeat_seconds,
                self_preservation=self.self_preservation,
            )

    def report_status(
        self,
        *,
        name: ServiceName,
        instance_id: InstanceId,
        status: ReportedStatus,
        reason: Reason | None = None,
        lease_token: LeaseToken | None = None,
    ) -> Instance:
        """Report an instance's own health: ``up``, ``down`` (unhealthy) or ``draining``.

        The report also counts as a heartbeat. An instance reported ``down`` or
        ``draining`` keeps that status while it heartbeats, until it reports ``up``.
        """
        self._ready()
        key = (name, instance_id)

        def prepare() -> Plan[Instance]:
            current = self._owned(name, instance_id, lease_token)
            wall = self._wall()
            update: dict[str, Any] = {}
            if current.reported_status != status:
                update["reported_status"] = status
            if current.status != status:
                update |= {"status": status, "status_changed_at": wall}
            if (reason or None) != current.status_reason and (update or reason):
                update["status_reason"] = reason
            changes: list[tuple[EventType, Instance | None, Key]] = []
            if update:
                changes.append(("status", current.model_copy(update=update), key))

            def after() -> Instance:
                self._touch(key)
                return self._view(self._records[key])

            return Plan(after=after, changes=changes)

        return self._write(prepare)

    def deregister(
        self, *, name: ServiceName, instance_id: InstanceId, lease_token: LeaseToken | None = None
    ) -> Deregistered:
        """Remove an instance now (a clean shutdown); its watchers see a deregistered event."""
        self._ready()
        key = (name, instance_id)

        def prepare() -> Plan[Deregistered]:
            self._owned(name, instance_id, lease_token)
            return Plan(
                after=lambda: Deregistered(name=name, instance_id=instance_id, index=self._revision),
                changes=[("deregistered", None, key)],
                deletes=[key],
            )

        return self._write(prepare)
