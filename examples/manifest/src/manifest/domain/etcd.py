"""etcd backend over etcd's v3 HTTP/JSON gateway, with a small httpx client.

Layout under a key prefix (default ``/manifest``):

- ``<prefix>/instances/<name>/<instance_id>``: the record as JSON, never on a lease, so a
  lapsed instance stays listed (as ``unknown``) until the registry removes it;
- ``<prefix>/alive/<name>/<instance_id>``: an empty liveness key on a per-instance lease of
  one TTL, renewed while the instance heartbeats; etcd drops it when heartbeats stop;
- ``<prefix>/meta/revision``: the registry revision, moved in the same transaction as the
  records it covers (a compare on it makes each batch optimistic).

The client takes several endpoints and moves to the next one on connection errors,
timeouts and "no leader" answers, so a cluster keeps serving through a leader loss.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import httpx

from .errors import StoreUnavailable
from .models import Instance
from .repository import Key, StaleRevision, dump_record, load_record


def _b64(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode()


def _unb64(value: str) -> bytes:
    return base64.b64decode(value)


def prefix_end(prefix: str) -> str:
    """The range end that selects every key starting with ``prefix``."""
    raw = bytearray(prefix.encode())
    for i in range(len(raw) - 1, -1, -1):
        if raw[i] < 0xFF:
            raw[i] += 1
            return _b64(bytes(raw[: i + 1]))
    return _b64(b"\x00")


_RETRYABLE_MARKERS = ("no leader", "leader changed", "timed out", "unavailable", "stopped")


class EtcdClient:
    """Minimal etcd v3 JSON gateway client (KV, txn, leases) with endpoint failover."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float = 2.0,
        deadline: float = 15.0,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is needed")
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.deadline = deadline
        self._current = 0
        self._timeout = timeout
        self._lock = threading.Lock()
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 1.0)),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )

    def close(self) -> None:
        self._http.close()

    def call(self, path: str, body: dict[str, Any], *, until: float | None = None) -> dict[str, Any]:
        """POST ``body`` to ``/v3/<path>``, failing over between endpoints until the deadline.

        ``until`` (a ``time.monotonic()`` instant) bounds several calls that form one write.
        """
        stop = until if until is not None else time.monotonic() + self.deadline
        attempt = 0
        last = "no attempt made"
        while True:
            with self._lock:
                index = self._current
            url = f"{self.endpoints[index]}/v3/{path}"
            left = stop - time.monotonic()
            if left <= 0:
                raise StoreUnavailable(f"etcd did not answer in time ({last}); nothing changed")
            try:
                response = self._http.post(url, content=json.dumps(body), timeout=min(left, self._timeout))
                if response.status_code == 200:
                    return response.json()
                text = response.text
                if response.status_code < 500 and not any(m in text for m in _RETRYABLE_MARKERS):
                    raise StoreUnavailable(f"etcd refused {path}: {text[:200]}")
                last = f"{url}: HTTP {response.status_code} {text[:200]}"
            except httpx.TransportError as exc:
                last = f"{url}: {type(exc).__name__}"
            with self._lock:
                if self._current == index:
                    self._current = (index + 1) % len(self.endpoints)
            attempt += 1
            if time.monotonic() >= stop:
                raise StoreUnavailable(f"etcd did not answer in time ({last}); nothing changed")
            if attempt % len(self.endpoints) == 0:
                time.sleep(min(0.5, 0.05 * attempt) * (0.5 + random.random()))

    # -- conveniences --------------------------------------------------------------------

    def get_prefix(self, prefix: str) -> list[dict[str, Any]]:
        data = self.call("kv/range", {"key": _b64(prefix), "range_end": prefix_end(prefix)})
        return data.get("kvs", [])

    def get(self, key: str, *, until: float | None = None) -> dict[str, Any] | None:
        kvs = self.call("kv/range", {"key": _b64(key)}, until=until).get("kvs", [])
        return kvs[0] if kvs else None

    def put(self, key: str, value: str | bytes, lease: int | None = None) -> None:
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = str(lease)
        self.call("kv/put", body)

    def txn(
        self, compare: list[dict[str, Any]], success: list[dict[str, Any]], *, until: float | None = None
    ) -> dict[str, Any]:
        return self.call("kv/txn", {"compare": compare, "success": success}, until=until)

    def grant(self, ttl: int, *, until: float | None = None) -> int:
        return int(self.call("lease/grant", {"TTL": str(ttl)}, until=until)["ID"])

    def keepalive(self, lease: int) -> bool:
        """Renew a lease; False when etcd no longer knows it (it expired)."""
        result = self.call("lease/keepalive", {"ID": str(lease)}).get("result", {})
        return int(result.get("TTL", 0) or 0) > 0

    def revoke(self, lease: int) -> None:
        # a lease that cannot be revoked soon simply expires
        with contextlib.suppress(StoreUnavailable):
            self.call("lease/revoke", {"ID": str(lease)}, until=time.monotonic() + min(self.deadline, 2.0))


def put_op(key: str, value: str, lease: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
    if lease:
        body["lease"] = str(lease)
    return {"request_put": body}


def delete_op(key: str) -> dict[str, Any]:
    return {"request_delete_range": {"key": _b64(key)}}


def _revision_of(stored: str | None) -> int:
    return int(stored.split("/", 1)[0]) if stored else 0


class EtcdRepository:
    """Registry storage in etcd; liveness keys on per-instance leases."""

    mirrors_liveness = True

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        prefix: str = "/manifest",
        ttl_seconds: float = 15.0,
        timeout: float = 5.0,
        client: EtcdClient | None = None,
    ) -> None:
        self.client = client or EtcdClient(endpoints, deadline=timeout)
        self.timeout = timeout
        self.prefix = prefix.rstrip("/")
        self.lease_ttl = max(2, round(ttl_seconds))
        self._leases: dict[Key, int] = {}
        self._renewed: dict[Key, float] = {}
        self._stored_revision: str | None = None
        self._lock = threading.Lock()

    # keys
    def _record_key(self, key: Key) -> str:
        return f"{self.prefix}/instances/{key[0]}/{key[1]}"

    def _alive_key(self, key: Key) -> str:
        return f"{self.prefix}/alive/{key[0]}/{key[1]}"

    @property
    def _revision_key(self) -> str:
        return f"{self.prefix}/meta/revision"

    def load(self) -> tuple[int, list[Instance]]:
        meta = self.client.get(self._revision_key)
        stored = _unb64(meta["value"]).decode() if meta else None
        revision = _revision_of(stored)
        records = [load_record(_unb64(kv["value"])) for kv in self.client.get_prefix(f"{self.prefix}/instances/")]
        leases: dict[Key, int] = {}
        for kv in self.client.get_prefix(f"{self.prefix}/alive/"):
            parts = _unb64(kv["key"]).decode()[len(self.prefix) + len("/alive/") :].split("/", 1)
            if len(parts) == 2 and kv.get("lease"):
                leases[(parts[0], parts[1])] = int(kv["lease"])
        with self._lock:
            self._leases = leases
            self._stored_revision = stored
        return revision, records

    def alive_keys(self) -> set[Key]:
        """Instances whose liveness key currently exists in etcd."""
        found: set[Key] = set()
        for kv in self.client.get_prefix(f"{self.prefix}/alive/"):
            rest = _unb64(kv["key"]).decode()[len(self.prefix) + len("/alive/") :]
            name, _, instance_id = rest.partition("/")
            found.add((name, instance_id))
        return found

    def apply(
        self, puts: Sequence[Instance], deletes: Sequence[Key], base: int, revision: int, *, until: float | None = None
    ) -> None:
        if until is None:  # one deadline for the grants and the transaction
            until = time.monotonic() + self.timeout
        ops: list[dict[str, Any]] = []
        new_leases: dict[Key, int] = {}
        for record in puts:
            key = (record.name, record.instance_id)
            ops.append(put_op(self._record_key(key), dump_record(record)))
            if record.status != "unknown":
                with self._lock:
                    known = key in self._leases
                if not known:
                    lease = self.client.grant(self.lease_ttl, until=until)
                    new_leases[key] = lease
                    ops.append(put_op(self._alive_key(key), "", lease))
        for key in deletes:
            ops.append(delete_op(self._record_key(key)))
            ops.append(delete_op(self._alive_key(key)))
        # "<revision>/<nonce>": a batch recognises its own landing after a failover retry, and
        # never mistakes another writer's batch of the same revision number for it
        tagged = f"{revision}/{uuid.uuid4().hex[:12]}"
        ops.append(put_op(self._revision_key, tagged))
        with self._lock:
            base_value = self._stored_revision
        if base_value is None or _revision_of(base_value) != base:
            base_value = str(base)
        if base == 0:
            # a fresh store has no revision key yet: it must still be absent
            compare = [
                {
                    "key": _b64(self._revision_key),
                    "target": "VERSION",
                    "result": "EQUAL",
                    "version": "0",
                }
            ]
        else:
            compare = [
                {
                    "key": _b64(self._revision_key),
                    "target": "VALUE",
                    "result": "EQUAL",
                    "value": _b64(base_value),
                }
            ]
        # Past the deadline the batch is reported as not applied (new leases simply expire). If
        # etcd commits it later anyway, the revision moved: the next write sees StaleRevision
        # and the service reloads, so memory and store meet again.
        result = self.client.txn(compare, ops, until=until)
        if not result.get("succeeded"):
            current = self.client.get(self._revision_key, until=until + self.timeout)
            stored = _unb64(current["value"]).decode() if current else None
            if stored != tagged:  # not our own batch landing before a failover retried it
                for lease in new_leases.values():
                    self.client.revoke(lease)
                raise StaleRevision(f"etcd is at revision {_revision_of(stored)}, expected {base}")
        now = time.monotonic()
        with self._lock:
            self._stored_revision = tagged
            for key, lease in new_leases.items():
                self._leases[key] = lease
                self._renewed[key] = now
            gone = [self._leases.pop(key, None) for key in deletes]
            for key in deletes:
                self._renewed.pop(key, None)
        for lease in gone:
            if lease:
                self.client.revoke(lease)

    def changed_elsewhere(self) -> bool:
        return False

    def ping(self) -> None:
        """A linearizable read: it needs a leader and a quorum, as every write does."""
        self.client.get(self._revision_key, until=time.monotonic() + min(self.timeout, 2.0))

    def mark_alive(self, keys: Iterable[Key]) -> None:
        """Renew the leases of instances that heartbeated (at most once per third of a TTL)."""
        now = time.monotonic()
        for key in keys:
            with self._lock:
                lease = self._leases.get(key)
                due = now - self._renewed.get(key, 0.0) >= self.lease_ttl / 3
            if lease and not due:
                continue
            if lease and self.client.keepalive(lease):
                with self._lock:
                    self._renewed[key] = now
                continue
            lease = self.client.grant(self.lease_ttl)
            self.client.put(self._alive_key(key), "", lease)
            with self._lock:
                self._leases[key] = lease
                self._renewed[key] = now

    def close(self) -> None:
        self.client.close()
