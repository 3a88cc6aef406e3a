"""Health over time: the sweeper that lapses silent instances, removes the long silent, brings
heartbeating ones back, and switches self-preservation on and off.

The sweeper runs in its own thread. It decides under the state lock and persists through the
same write path as every other write, so a store that is down delays its transitions (they are
retried on the next tick) and never the heartbeats that would have prevented them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading

from .errors import StoreUnavailable
from .models import Instance
from .state import Change, Plan, RegistryState

log = logging.getLogger("manifest.registry")


class Sweeper(RegistryState):
    """TTL, grace and self-preservation, applied once per ``sweep_seconds``."""

    _thread: threading.Thread | None = None

    def _init_sweeper(self) -> None:
        self._stop = threading.Event()
        self._removal_tokens = 0.0
        self._last_sweep = self._clock()
        self.heartbeats_total = 0
        self.removed_total = 0
        self.lapsed_total = 0
        self._hb_sample = (self._clock(), 0)
        self.heartbeat_rate = 0.0
        self._keeper: threading.Thread | None = None

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
            self._thread.join(timeout=self.store_timeout + 5)
        self._repo.close()

    def _run(self) -> None:
        while not self._stop.wait(self.config.sweep_seconds):
            try:
                self.sweep()
            except StoreUnavailable as exc:
                log.warning("registry sweep postponed: %s", exc.detail)
            except Exception:  # the sweeper must survive a backend hiccup
                log.exception("registry sweep failed; retrying on the next tick")

    def sweep(self) -> None:
        """Apply TTL and grace: lapse silent instances to unknown, remove the long silent."""
        lapsing: list = []
        deletes: list = []

        def prepare() -> Plan[None]:
            nonlocal lapsing, deletes
            plan = self._decide()
            lapsing = [key for kind, record, key in plan.changes if kind == "status" and record.status == "unknown"]
            deletes = plan.deletes
            return plan

        self._write(prepare)
        if lapsing or deletes:
            self.lapsed_total += len(lapsing)
            self.removed_total += len(deletes)
            for key in lapsing:
                log.info("instance %s/%s is unknown (missed heartbeats)", *key)
            for key in deletes:
                log.info("instance %s/%s removed after the grace period", *key)
        self._keep_alive()

    def _decide(self) -> Plan[None]:
        """What this sweep changes (state lock held).

        Its cost follows the silent instances, not the fleet: the event loop takes the same
        lock for every heartbeat, and a thread busy with thousands of records holds back the
        loop's thread (they share one interpreter lock).
        """
        cfg = self.config
        now = self._clock()
        elapsed = max(0.0, now - self._last_sweep)
        self._last_sweep = now
        t0, n0 = self._hb_sample
        if now - t0 >= 1.0:
            self.heartbeat_rate = (self.heartbeats_total - n0) / (now - t0)
            self._hb_sample = (now, self.heartbeats_total)
        if not self._armed:
            if now - self._loaded_at < max(cfg.grace_seconds, 3 * cfg.ttl_seconds, 30.0):
                return Plan(after=lambda: None)  # nobody can heartbeat yet: the restart grace has not begun
            self._arm_locked()
        lapsing = [k for k in self._silent(now) if k in self._records and self._records[k].status != "unknown"]
        # heartbeats resumed: the heartbeat answered at once; the transition is persisted here
        back = [
            k
            for k in self._resumed
            if k in self._records
            and self._records[k].status == "unknown"
            and now - self._beats.get(k, -math.inf) <= cfg.ttl_seconds
        ]
        lapsing_up = sum(1 for k in lapsing if self._records[k].status == "up")
        # counting every up instance is needed only when some lapse or while self-preserving
        up_count = (
            sum(1 for r in self._records.values() if r.status == "up") if lapsing or self.self_preservation else 0
        )
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
        wall = self._wall()
        changes: list[Change] = []
        for key in lapsing:
            reason = f"no heartbeat for {cfg.ttl_seconds:g}s"
            changes.append(("status", self._status(key, "unknown", reason, wall), key))
        for key in back:
            record = self._records[key]
            changes.append(("status", self._status(key, record.reported_status, "heartbeat resumed", wall), key))
        due = sorted(
            (since, k)
            for k, since in self._unknown_since.items()
            if now - since >= cfg.grace_seconds and k in self._records and k not in back
        )
        if self.self_preservation:
            # no bursts: removals trickle out at the configured rate
            self._removal_tokens = min(self._removal_tokens + elapsed * cfg.removals_per_minute / 60.0, 1.0)
            due = due[: int(self._removal_tokens)]
            self._removal_tokens -= len(due)
        deletes = [k for _, k in due]
        changes.extend(("removed", None, k) for k in deletes)

        def after() -> None:
            for key in lapsing:
                self._unknown_since[key] = now
            for key in back:
                self._unknown_since.pop(key, None)
            self._resumed.difference_update(back)
            self._resumed.difference_update(lapsing)
            self._leave_self_preservation(up_count - lapsing_up)

        if not changes:
            after()
        return Plan(after=after, changes=changes, deletes=deletes) if changes else Plan(after=lambda: None)

    def _silent(self, now: float) -> list[tuple[str, str]]:
        """Instances whose last heartbeat is older than the TTL: the front of the heartbeat table."""
        silent = []
        for key, beat in self._beats.items():
            if now - beat <= self.config.ttl_seconds:
                break
            silent.append(key)
        return silent

    def _status(self, key: tuple[str, str], status: str, reason: str, wall: float) -> Instance:
        return self._records[key].model_copy(
            update={"status": status, "status_reason": reason, "status_changed_at": wall}
        )

    def _leave_self_preservation(self, still_up: int) -> None:
        cfg = self.config
        if not self.self_preservation:
            return
        lapsed = len(self._unknown_since)
        threshold = max(cfg.self_preservation_min, math.ceil(cfg.self_preservation_ratio * max(still_up + lapsed, 1)))
        if lapsed < threshold:
            self.self_preservation = False
            log.warning("self-preservation off: heartbeats recovered")

    def _keep_alive(self) -> None:
        """Mirror liveness to the store (etcd leases) in a thread of its own: a slow store
        delays the mirror, never the sweep."""
        if self._keeper is not None and self._keeper.is_alive():
            return
        if not self._repo.mirrors_liveness:
            return  # SQLite: liveness lives in memory only
        now, ttl = self._clock(), self.config.ttl_seconds
        with self._lock:
            alive = []
            for key, beat in reversed(self._beats.items()):  # newest first: stop at the first silent
                if now - beat > ttl:
                    break
                alive.append(key)
        if not alive:
            return

        def mirror() -> None:
            with contextlib.suppress(Exception):
                self._repo.mark_alive(alive)

        self._keeper = threading.Thread(target=mirror, name="manifest-keepalive", daemon=True)
        self._keeper.start()
