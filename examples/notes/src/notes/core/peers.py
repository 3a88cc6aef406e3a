"""Peers: call another capability server's operations by name, with nothing of it installed.

The service gets a ``Peers`` directory (``Service.from_settings``) and calls, from domain code::

    note = self.peers.call("notes-server", "get_note", {"slug": "groceries"})
    self.peers.call("notes-server", "create_note", {...}, idempotency_key=key)

Each call:

- may name only a peer the server declares (``[tool.chora-base] dependencies`` in
  ``pyproject.toml``, see ``manifest_client.declared_peers``; also what it registers as its
  dependencies); anything else is a bug, refused at once;
- finds the peer's ``up`` instances in the manifest registry (looked up by name, cached
  briefly), spreads calls across them, and looks the name up again when an instance fails;
- validates the input against the peer's published contract (``peer_contract.py``, fetched
  once per peer version) before sending anything;
- carries ``traceparent`` and ``X-Request-ID`` (``tracing.outgoing``), and a deadline for the
  whole call, retries included (``peer_timeout_seconds``);
- turns the peer's problem object into a ``RemoteError`` carrying the peer's ``code`` and
  ``retryable``; an unreachable peer is ``unavailable``, a late one ``timeout``; each with
  ``peer`` set (``peer_errors.py``);
- retries (tenacity: exponential backoff with jitter, at most ``peer_retries`` more attempts,
  never past the deadline) only when it is safe: the error is retryable AND the operation is
  read-only or the call carries an idempotency key. A request that was never sent (connection
  refused, circuit open) moves to another instance whatever the operation;
- goes through a circuit breaker per peer instance (``peer_breaker.py``): after
  ``peer_breaker_failures`` calls in a row that got no answer (unreachable, dropped, late) the
  instance is skipped for ``peer_breaker_reset_seconds``, then one trial call decides whether
  it closes again.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import TYPE_CHECKING, Any

from . import tracing
from .errors import DomainError, RemoteError, Unavailable, UnknownOperation
from .peer_breaker import Breaker
from .peer_errors import from_peer, timed_out, undeclared, unreachable

if TYPE_CHECKING:  # imported on the first call: a CLI command that calls no peer pays nothing
    import httpx

    from .peer_contract import Contract, PeerOperation


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


class Peers:
    """The peers this server may call, found through the manifest registry."""

    def __init__(
        self,
        declared: list[str] | None,
        registry_url: str | None,
        registry_token: str | None = None,
        *,
        timeout: float = 5.0,
        retries: int = 2,
        breaker_failures: int = 5,
        breaker_reset: float = 30.0,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._declared = None if declared is None else frozenset(declared)
        self._settings: Any = None
        self.registry_url, self._registry_token = registry_url, registry_token
        self.timeout, self.retries = timeout, retries
        self._breaker_args = (breaker_failures, breaker_reset)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._transport = transport
        self._lock = threading.Lock()
        self._breakers: dict[str, Breaker] = {}
        self._contracts: dict[tuple[str, str], Contract] = {}
        self._turns: dict[str, itertools.count[int]] = {}
        self._http_client: httpx.Client | None = None
        self._registry: Any = None

    @classmethod
    def from_settings(cls, settings: Any) -> Peers:
        peers = cls(
            None,  # read from settings and pyproject.toml on the first call
            settings.registry_url,
            settings.registry_token,
            timeout=settings.peer_timeout_seconds,
            retries=settings.peer_retries,
            breaker_failures=settings.peer_breaker_failures,
            breaker_reset=settings.peer_breaker_reset_seconds,
            token=settings.peer_token,
        )
        peers._settings = settings
        return peers

    @property
    def _http(self) -> httpx.Client:
        if self._http_client is None:
            import httpx

            with self._lock:
                if self._http_client is None:
                    self._http_client = httpx.Client(
                        headers=self._headers, transport=self._transport, timeout=self.timeout
                    )
        return self._http_client

    def _lookup(self, peer: str) -> list[dict[str, Any]]:
        if self._registry is None:
            from .manifest_client import ManifestClient

            self._registry = ManifestClient(self.registry_url, self._registry_token, dict)
        return self._registry.lookup(peer)

    def _forget(self, peer: str) -> None:
        if self._registry is not None:
            self._registry.forget(peer)

    @property
    def declared(self) -> frozenset[str]:
        """The peers this server may call (``manifest_client.declared_peers``)."""
        if self._declared is None:
            from .manifest_client import declared_peers

            self._declared = frozenset(declared_peers(self._settings))
        return self._declared

    def close(self) -> None:
        if self._http_client is not None:
            self._http_client.close()

    def breakers(self) -> dict[str, str]:
        """State of each peer instance's circuit (``closed``, ``open``, ``half-open``) by URL."""
        with self._lock:
            breakers = list(self._breakers.items())
        return {url: breaker.state for url, breaker in breakers}

    # -- one call ------------------------------------------------------------------------------

    def call(
        self,
        peer: str,
        operation: str,
        arguments: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call ``operation`` of ``peer`` with ``arguments``; its JSON answer, decoded.

        Pass ``idempotency_key`` (the same for every repetition of one intent) to make a write
        safe to retry; the peer receives it as the ``Idempotency-Key`` header.
        """
        if peer not in self.declared:
            raise undeclared(peer)
        arguments = dict(arguments or {})
        deadline = time.monotonic() + (timeout or self.timeout)
        safe: list[bool] = [idempotency_key is not None]  # set to True too once a read is known
        try:  # the first attempt outside tenacity: a call that succeeds pays for no retry machinery
            return self._attempt(peer, operation, arguments, idempotency_key, deadline, safe)
        except DomainError as exc:
            if self.retries == 0 or not self._may_retry(exc, safe[0], deadline):
                raise
            failed: list[DomainError] = [exc]
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

        def again() -> Any:
            if failed:  # tenacity's first "attempt" is the one already made: it backs off first
                raise failed.pop()
            self._forget(peer)  # an instance failed: ask the registry again
            return self._attempt(peer, operation, arguments, idempotency_key, deadline, safe)

        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_random_exponential(multiplier=0.05, max=1.0),
            retry=retry_if_exception(lambda exc: self._may_retry(exc, safe[0], deadline)),
            sleep=lambda seconds: time.sleep(min(seconds, _left(deadline))),
            reraise=True,
        )
        return retrying(again)

    @staticmethod
    def _may_retry(exc: BaseException, safe: bool, deadline: float) -> bool:
        """Retryable fault, time left, and safe: a read, a keyed call, or never sent."""
        if not (isinstance(exc, DomainError) and exc.retryable) or time.monotonic() >= deadline:
            return False
        return safe or not getattr(exc, "sent", True)

    def _attempt(
        self,
        peer: str,
        operation: str,
        arguments: dict[str, Any],
        key: str | None,
        deadline: float,
        safe: list[bool],
    ) -> Any:
        """One attempt: the next instance whose circuit lets the call through."""
        instances = self._instances(peer)
        if not instances:
            self._forget(peer)
            raise unreachable(peer, f"No instance of {peer} is up in the registry", sent=False)
        last: Unavailable | None = None
        for url, version in instances:
            breaker = self._breaker(url)
            if not breaker.allow():
                last = unreachable(peer, f"{peer} at {url}: circuit open after repeated failures", sent=False)
                continue
            try:
                result = self._send(peer, url, version, operation, arguments, key, deadline, safe)
            except Unavailable as exc:  # unreachable or late (a peer's answer is a RemoteError)
                if exc.peer is not None:
                    breaker.failed()
                else:
                    breaker.released()
                if exc.sent:
                    raise
                last = exc  # never reached it: the next instance is safe to try
            except RemoteError:
                breaker.succeeded()  # it answered: the instance is up
                raise
            except BaseException:
                breaker.released()
                raise
            else:
                breaker.succeeded()
                return result
        self._forget(peer)
        assert last is not None
        raise last

    def _send(
        self,
        peer: str,
        url: str,
        version: str,
        operation: str,
        arguments: dict[str, Any],
        key: str | None,
        deadline: float,
        safe: list[bool],
    ) -> Any:
        op = self._operation(peer, url, version, operation, deadline)
        safe[0] = safe[0] or op.read_only
        op.validate(peer, arguments)
        path, params, body = op.request(arguments)
        headers: dict[str, str] = {}
        tracing.outgoing(headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        response = self._exchange(peer, op.method, url + path, deadline, params=params, json=body, headers=headers)
        if response.is_success:
            return response.json() if response.content else None
        raise from_peer(peer, response)

    def _exchange(self, peer: str, method: str, url: str, deadline: float, **kwargs: Any) -> httpx.Response:
        import httpx

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise timed_out(peer, f"{peer}: no time left for {method} {url}")
        try:
            return self._http.request(method, url, timeout=remaining, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            detail = f"Cannot reach {peer} at {url}: {type(exc).__name__}"
            raise unreachable(peer, detail, sent=False) from None
        except httpx.TimeoutException:
            raise timed_out(peer, f"{peer} did not answer {method} {url} within the deadline") from None
        except httpx.HTTPError as exc:
            raise unreachable(peer, f"{peer} at {url} failed: {type(exc).__name__}", sent=True) from None

    # -- directory -----------------------------------------------------------------------------

    def _instances(self, peer: str) -> list[tuple[str, str]]:
        """(REST URL, version) of every ``up`` instance, starting from the next in turn."""
        found = [
            (record["interfaces"]["rest"].rstrip("/"), str(record.get("version", "")))
            for record in self._lookup(peer)
            if record.get("interfaces", {}).get("rest")
        ]
        if len(found) < 2:
            return found
        with self._lock:
            turn = next(self._turns.setdefault(peer, itertools.count()))
        start = turn % len(found)
        return found[start:] + found[:start]

    def _breaker(self, url: str) -> Breaker:
        with self._lock:
            breaker = self._breakers.get(url)
            if breaker is None:
                breaker = self._breakers[url] = Breaker(*self._breaker_args)
            return breaker

    def _operation(self, peer: str, url: str, version: str, name: str, deadline: float) -> PeerOperation:
        """The operation from the peer's contract, fetched once per peer version."""
        from .peer_contract import CONTRACT_PATH, Contract

        contract = self._contracts.get((peer, version))
        if contract is None or contract.get(name) is None:  # new peer, or one that just gained it
            response = self._exchange(peer, "GET", url + CONTRACT_PATH, deadline, headers=_stamped())
            if not response.is_success:
                raise from_peer(peer, response)
            contract = Contract(response.json())
            self._contracts[(peer, version)] = contract
        op = contract.get(name)
        if op is None:
            raise UnknownOperation(f"{peer} publishes no operation {name!r}")
        return op


def _stamped() -> dict[str, str]:
    headers: dict[str, str] = {}
    tracing.outgoing(headers)
    return headers
