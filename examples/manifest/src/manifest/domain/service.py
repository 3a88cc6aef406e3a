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

import asyncio
import base64
import bisect
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from ..core.errors import ValidationFailed
from . import leases
from .config import RegistrySettings
from .errors import InstanceNotFound, RevisionCompacted, ServiceNotFound, TooManyWatches
from .health import Sweeper
from .metrics import expose_metrics
from .models import (
    Cursor,
    Dependencies,
    Deregistered,
    EventType,
    HeartbeatAck,
    InstanceId,
    InstanceList,
    InstancePage,
    InterfaceKind,
    Interfaces,
    InterfacesInput,
    LeaseToken,
    Limit,
    Metadata,
    Reason,
    Registration,
    ReportedStatus,
    ServiceName,
    Status,
    Tag,
    Tags,
    Version,
    WatchResult,
)
from .models import Instance as Instance
from .repository import Key, Repository, SQLiteRepository
from .state import Plan
from .turns import Turns

__all__ = ["Instance", "RegistrySettings", "Service"]

WAIT_LIMIT = 60.0


class Service(Sweeper):
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
        self.max_long_polls = max_long_polls
        self._polls = 0
        self._polls_lock = threading.Lock()
        self._turns = Turns()

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

    def _view(self, record: Instance) -> Instance:
        """The record as the registry sees it now: its last heartbeat, and ``unknown`` already
        lifted when heartbeats resumed (the sweeper persists that transition)."""
        key = (record.name, record.instance_id)
        beat = self._beats.get(key)
        if beat is None:
            return record
        now = self._clock()
        update: dict[str, Any] = {"last_heartbeat": max(self._wall() - (now - beat), record.registered_at)}
        if record.status == "unknown" and key in self._resumed and now - beat <= self.config.ttl_seconds:
            update |= {"status": record.reported_status, "status_reason": "heartbeat resumed"}
        return _copy_with(record, update)

    def _touch(self, key: Key) -> None:
        self._beats.pop(key, None)  # re-inserted last: the table stays in heartbeat order
        self._beats[key] = self._clock()
        self._lookups.pop(key[0], None)
        self._unknown_since.pop(key, None)

    def _ready(self) -> None:
        if not self._armed:
            self._arm()

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

    # -- reads (memory only) ---------------------------------------------------------------

    def get(self, *, name: ServiceName) -> InstanceList:
        """Every instance registered under a service name, whatever its status."""
        self._ready()
        self.refresh()
        with self._lock:
            # the hottest read: answered from the last answer until a write or a heartbeat of
            # that name changes it (the answer is shared: callers must not modify it)
            cached = self._lookups.get(name)
            if cached is not None and cached.self_preservation == self.self_preservation:
                return cached
            ids = self._by_name.get(name)
            if not ids:
                raise ServiceNotFound(f"no instance of {name!r} is registered")
            records = [self._records[(name, i)] for i in sorted(ids)]
            found = [self._view(record) for record in records]
            answer = InstanceList(index=self._revision, self_preservation=self.self_preservation, instances=found)
            # the view of an unknown record can change with time alone (see _view): not kept
            if all(record.status != "unknown" for record in records):
                if len(self._lookups) > len(self._by_name):
                    self._lookups.clear()  # names removed since: keep it bounded
                self._lookups[name] = answer
            return answer

    async def list(
        self,
        *,
        status: Status | None = None,
        tag: Tag | None = None,
        interface: InterfaceKind | None = None,
        name: ServiceName | None = None,
        limit: Limit | None = None,
        cursor: Cursor | None = None,
    ) -> InstancePage:
        """List instances a page at a time, optionally only those with a status, a tag, an
        interface or a name; pass ``next_cursor`` back as ``cursor`` for the next page.

        Pages take turns with the rest of the server: under many readers a page may wait a moment,
        so that heartbeats never do.
        """
        self._ready()
        size = limit or self.config.list_limit
        after = _decode_cursor(cursor) if cursor else None
        async with self._turns:
            self.refresh()
            return self._page(size, after, status=status, tag=tag, interface=interface, name=name)

    def _page(
        self,
        size: int,
        after: Key | None,
        *,
        status: Status | None,
        tag: Tag | None,
        interface: InterfaceKind | None,
        name: str | None,
    ) -> InstancePage:
        with self._lock:
            keys = self._order  # sorted by (name, instance id): one name is one contiguous run
            start = bisect.bisect_right(keys, after) if after else 0
            if name is not None:
                start = max(start, bisect.bisect_left(keys, (name,)))
            found: list[Instance] = []
            more = False
            for i in range(start, len(keys)):
                key = keys[i]
                if name is not None and key[0] != name:
                    break
                record = self._records[key]
                if (
                    (status is None or record.status == status)
                    and (tag is None or tag in record.tags)
                    and (interface is None or getattr(record.interfaces, interface))
                ):
                    if len(found) == size:
                        more = True
                        break
                    found.append(self._view(record))
            next_cursor = _encode_cursor(found[-1]) if more and found else None
            return InstancePage(
                index=self._revision,
                self_preservation=self.self_preservation,
                instances=found,
                next_cursor=next_cursor,
            )

    async def watch(
        self,
        *,
        index: Annotated[int, Field(ge=0, le=2**53)] = 0,
        name: ServiceName | None = None,
        wait: Annotated[float, Field(ge=0, le=WAIT_LIMIT)] = 30.0,
    ) -> WatchResult:
        """Wait for changes after ``index`` (a long poll); answers at once if there are some.

        Take ``index`` from a list, get or previous watch answer. An index older than the
        history the registry keeps (or from before a registry restart) answers
        ``revision_compacted``: list again, then watch from the new index. Each server holds
        a bounded number of long polls; beyond it ``too_many_watches`` (retryable).
        """
        self._ready()
        self.refresh()
        wait = min(max(wait, 0.0), WAIT_LIMIT)
        answer = self._changes(index, name)
        if answer.events or wait == 0:
            return answer
        with self._polls_lock:
            if self._polls >= self.max_long_polls:
                raise TooManyWatches(
                    f"this registry already holds {self.max_long_polls} long polls; retry shortly or watch with wait=0"
                )
            self._polls += 1
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            while True:
                with self._lock:
                    answer = self._changes_locked(index, name)
                    if answer.events:
                        return answer
                    changed = self._waiter()  # one future per loop, shared by every watch on it
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return answer
                # asyncio.wait, not wait_for: a timeout must not cancel the shared future
                done, _ = await asyncio.wait((changed,), timeout=remaining)
                if not done:
                    with self._lock:
                        return self._changes_locked(index, name)
        finally:
            with self._polls_lock:
                self._polls -= 1

    def _changes(self, index: int, name: str | None) -> WatchResult:
        with self._lock:
            return self._changes_locked(index, name)

    def _changes_locked(self, index: int, name: str | None) -> WatchResult:
        if index < self._floor or index > self._revision:
            raise RevisionCompacted(
                f"index {index} is outside the history the registry keeps "
                f"({self._floor}..{self._revision}); list again and watch from its index"
            )
        start = bisect.bisect_right(self._log_revs, index)
        events = [e for e in self._log[start:] if name is None or e.name == name]
        return WatchResult(index=self._revision, self_preservation=self.self_preservation, events=events)

    # -- introspection -----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Instances by effective status."""
        with self._lock:
            out = {"up": 0, "unknown": 0, "down": 0, "draining": 0}
            for record in self._records.values():
                out[record.status] += 1
            return out

    @property
    def long_polls(self) -> int:
        return self._polls


def _copy_with(record: Instance, update: dict[str, Any]) -> Instance:
    """A shallow copy of a record with some fields replaced, as ``model_copy(update=...)`` makes
    it, at a tenth of its cost: a page builds one per instance. The values are already valid
    (they come from the registry's own records and clock), so nothing is validated again."""
    view = Instance.__new__(Instance)
    fields = record.__dict__.copy()
    fields.update(update)
    object.__setattr__(view, "__dict__", fields)
    object.__setattr__(view, "__pydantic_fields_set__", set(record.__pydantic_fields_set__))
    object.__setattr__(view, "__pydantic_extra__", None)
    object.__setattr__(view, "__pydantic_private__", dict(record.__pydantic_private__ or {}))
    return view


def _encode_cursor(record: Instance) -> str:
    raw = json.dumps([record.name, record.instance_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> Key:
    try:
        name, instance_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not (isinstance(name, str) and isinstance(instance_id, str)):
            raise ValueError
    except (ValueError, TypeError):
        raise ValidationFailed(
            "cursor: not a cursor this registry made; pass next_cursor from the previous page",
            errors=[{"loc": ["cursor"], "msg": "invalid cursor", "type": "value_error"}],
        ) from None
    return (name, instance_id)
