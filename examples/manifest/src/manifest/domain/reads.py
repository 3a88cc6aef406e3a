"""The registry's reads: lookups by name, pages of the fleet and watches, all from memory."""

from __future__ import annotations

import asyncio
import base64
import bisect
import json
import threading
from typing import Annotated, Any

from pydantic import Field

from ..core.errors import ValidationFailed
from .errors import RevisionCompacted, ServiceNotFound, TooManyWatches
from .health import Sweeper
from .models import (
    Cursor,
    Instance,
    InstanceList,
    InstancePage,
    InterfaceKind,
    Limit,
    ServiceName,
    Status,
    Tag,
    WatchResult,
)
from .repository import Key
from .turns import Turns

#: The longest a watch waits for a change, in seconds.
WAIT_LIMIT = 60.0


class Reads(Sweeper):
    """What the registry answers without touching storage (``Service`` adds the writes)."""

    def _init_reads(self, max_long_polls: int) -> None:
        self.max_long_polls = max_long_polls
        self._polls = 0
        self._polls_lock = threading.Lock()
        self._turns = Turns()

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

    def _ready(self) -> None:
        if not self._armed:
            self._arm()

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
