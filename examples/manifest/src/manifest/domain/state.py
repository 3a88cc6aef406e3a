"""The registry's in-memory state and its single write path.

Why two locks: nothing that waits on storage may block anything else.

- The **state lock** (``_lock``) guards the in-memory records, heartbeats, event log and
  watchers. It is held only for memory work (microseconds) and never across a storage call,
  so heartbeats, lookups, watches and ``/health`` never queue behind the store.
- The **writer lock** (``_writer``) lets one write at a time reach storage, so batches take
  consecutive revisions. A write:

  1. takes the writer lock, waiting no longer than the store deadline (behind a writer stuck
     on a locked or leaderless store, the next one answers ``store_unavailable`` in time
     instead of queueing);
  2. prepares its batch from memory under the state lock (checks, new records);
  3. persists the batch with the state lock released, bounded by what is left of the deadline;
  4. applies the batch to memory under the state lock and wakes the watchers.

  Only a holder of the writer lock changes records, so what step 2 read still holds at step 4.
  When step 3 fails, step 4 never runs: memory and store are both unchanged, and the caller
  gets a retryable 503.
- Another process writing the same store (a CLI next to the server) surfaces as
  ``StaleRevision``: reload, prepare again, a bounded number of times, then
  ``revision_conflict`` (409, retryable); never a 500.

Watchers wait on one ``asyncio`` future per event loop: a long poll costs no thread while it
waits, and a write in a worker thread wakes all of them with one ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .config import RegistrySettings
from .errors import RevisionConflict, StoreUnavailable
from .models import Event, EventType, Instance, InstanceList
from .repository import Key, Repository, StaleRevision

log = logging.getLogger("manifest.registry")

T = TypeVar("T")
Change = tuple[EventType, Instance | None, Key]


@dataclass
class Plan(Generic[T]):
    """A prepared write: the changes to persist, then ``after`` (run under the state lock once
    memory holds them) builds the answer."""

    after: Callable[[], T]
    changes: list[Change] = field(default_factory=list)
    deletes: list[Key] = field(default_factory=list)


class RegistryState:
    """Records, heartbeats and the event log in memory, written through to a repository."""

    def __init__(
        self,
        repository: Repository,
        config: RegistrySettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        store_timeout: float = 5.0,
    ) -> None:
        self.config = config or RegistrySettings()
        self.store_timeout = store_timeout
        self._repo = repository
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._writer = threading.Lock()
        self._records: dict[Key, Instance] = {}
        self._order: list[Key] = []  # sorted keys: pages without sorting per request
        self._by_name: dict[str, set[str]] = {}
        # last heartbeat per instance, in the order they came (oldest first): a sweep reads
        # only the silent front of it, never the whole fleet (see _touch and _sort_beats)
        self._beats: dict[Key, float] = {}
        self._unknown_since: dict[Key, float] = {}
        self._resumed: set[Key] = set()  # unknown instances whose heartbeats came back
        self._log: list[Event] = []
        self._log_revs: list[int] = []
        self._floor = 0
        self._revision = 0
        self._changed: dict[asyncio.AbstractEventLoop, asyncio.Future[None]] = {}
        self._lookups: dict[str, InstanceList] = {}  # get's answers by name (see service.get)
        self._write_started: float | None = None  # real monotonic time; for readiness
        self.self_preservation = False
        self._armed = False
        self._loaded_at = clock()
        self._load()

    # -- loading ---------------------------------------------------------------------------

    def _load(self) -> None:
        """Replace memory with the store's content (caller holds the writer lock, or constructs)."""
        revision, records = self._repo.load()
        now, wall = self._clock(), self._wall()
        ttl, grace = self.config.ttl_seconds, self.config.grace_seconds
        with self._lock:
            old_beats = self._beats
            self._records = {(r.name, r.instance_id): r for r in records}
            self._order = sorted(self._records)
            self._by_name = {}
            for name, instance_id in self._order:
                self._by_name.setdefault(name, set()).add(instance_id)
            self._beats = {}
            self._unknown_since = {}
            for key, record in self._records.items():
                # restart grace: nothing lapses before one TTL after (re)loading
                self._beats[key] = old_beats.get(key, now)
                if record.status == "unknown":
                    since = now - max(0.0, wall - record.status_changed_at)
                    self._unknown_since[key] = max(since, now + ttl - grace)
            self._sort_beats()
            self._revision = revision
            self._floor = revision
            self._log.clear()
            self._log_revs.clear()
            self._wake()

    def _sync(self) -> None:
        """Reload when another process wrote to the store (writer lock held)."""
        if self._repo.changed_elsewhere():
            self._load()

    def refresh(self) -> None:
        """Pick up another process's writes, unless a write is in flight (it will sync)."""
        if not self._writer.acquire(blocking=False):
            return
        try:
            self._sync()
        finally:
            self._writer.release()

    def _arm(self) -> None:
        """Start the restart grace when traffic starts, not when the process started.

        A registry can take seconds between loading its store and answering requests; the
        TTL of grace every stored instance gets must not be spent before anyone can heartbeat.
        """
        with self._lock:
            self._arm_locked()

    def _arm_locked(self) -> None:
        if self._armed:
            return
        now = self._clock()
        floor = now + self.config.ttl_seconds - self.config.grace_seconds
        for key in self._records:
            self._beats[key] = max(self._beats.get(key, now), now)
        self._sort_beats()
        self._lookups.clear()
        for key, since in self._unknown_since.items():
            self._unknown_since[key] = max(since, floor)
        self._armed = True

    def _sort_beats(self) -> None:
        """Put the heartbeat table back in time order after setting many entries at once."""
        self._beats = dict(sorted(self._beats.items(), key=lambda item: item[1]))

    # -- the write path --------------------------------------------------------------------

    def _write(self, prepare: Callable[[], Plan[T]]) -> T:
        """Run one write: writer lock, prepare, persist, apply (see the module docstring)."""
        started = time.monotonic()
        stop = started + self.store_timeout
        if not self._writer.acquire(timeout=self.store_timeout):
            raise StoreUnavailable(
                f"another write has waited on the store for over {self.store_timeout:g}s; nothing changed, retry later"
            )
        self._write_started = started
        try:
            self._sync()
            for _ in range(self.config.conflict_retries):
                with self._lock:
                    plan = prepare()
                    if not plan.changes:
                        return plan.after()
                try:
                    return self._persist(plan, stop)
                except StaleRevision:
                    self._load()  # another process wrote: prepare again on what it left
            raise RevisionConflict(
                f"the store kept changing under {self.config.conflict_retries} attempts; retry the call"
            )
        finally:
            self._write_started = None
            self._writer.release()

    def _persist(self, plan: Plan[T], stop: float) -> T:
        base = self._revision
        events: list[Event] = []
        puts: list[Instance] = []
        rev = base
        for kind, record, key in plan.changes:
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
        if time.monotonic() >= stop:
            raise StoreUnavailable("the write ran out of time before reaching the store; nothing changed")
        self._repo.apply(puts, plan.deletes, base, rev, until=stop)  # raises before memory changes
        with self._lock:
            for record in puts:
                key = (record.name, record.instance_id)
                if key not in self._records:
                    bisect.insort(self._order, key)
                    self._by_name.setdefault(key[0], set()).add(key[1])
                self._records[key] = record
            for key in plan.deletes:
                if self._records.pop(key, None) is not None:
                    index = bisect.bisect_left(self._order, key)
                    if index < len(self._order) and self._order[index] == key:
                        del self._order[index]
                    ids = self._by_name.get(key[0])
                    if ids is not None:
                        ids.discard(key[1])
                        if not ids:
                            del self._by_name[key[0]]
                self._beats.pop(key, None)
                self._unknown_since.pop(key, None)
                self._resumed.discard(key)
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
            self._wake()
            return plan.after()

    # -- watchers ----------------------------------------------------------------------------

    def _waiter(self) -> asyncio.Future[None]:
        """The future resolved at the next change (state lock held by the caller).

        Every watch on one event loop shares it: a change costs one wake-up per loop, not
        one per waiting watch, and a watch that times out has nothing to clean up.
        """
        loop = asyncio.get_running_loop()
        future = self._changed.get(loop)
        if future is None or future.done():
            future = self._changed[loop] = loop.create_future()
        return future

    def _wake(self) -> None:
        """Resolve the waiting futures (state lock held); safe from any thread."""
        self._lookups.clear()  # every change reaches here: cached answers are stale now
        changed, self._changed = self._changed, {}
        for loop, future in changed.items():
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(_resolve, future)

    # -- readiness ---------------------------------------------------------------------------

    def readiness(self) -> None:
        """Raise ``store_unavailable`` unless the store would take a write now."""
        started = self._write_started
        if started is not None and time.monotonic() - started > self.store_timeout:
            raise StoreUnavailable(f"a write has waited on the store for over {self.store_timeout:g}s")
        self._repo.ping()

    @property
    def revision(self) -> int:
        return self._revision


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
