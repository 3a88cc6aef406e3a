"""The backends of one federated server: its `up` instances, each bounded and guarded.

Per instance: a concurrency limit (calls beyond it wait, within the call's own deadline) and a
breaker (after ``breaker_failures`` failures in a row it refuses calls for
``breaker_reset_seconds``, then lets one through to test the instance). Calls are spread over
the instances in turn; one that cannot be reached is skipped for the next. A call that may
have run (sent, then no answer) is retried elsewhere only when its tool is read-only, so a
change is never made twice.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import GatewaySettings

if TYPE_CHECKING:
    from .transport import Pool
    from .wire import Progress


@dataclass
class Breaker:
    failures: int = 0
    open_until: float = 0.0

    def allows(self, now: float) -> bool:
        return now >= self.open_until

    def succeeded(self) -> None:
        self.failures, self.open_until = 0, 0.0

    def failed(self, now: float, limit: int, reset: float) -> None:
        self.failures += 1
        if self.failures >= limit:
            self.open_until = now + reset

    @property
    def state(self) -> str:
        return "open" if time.monotonic() < self.open_until else "closed"


@dataclass
class Instance:
    instance_id: str
    url: str
    limit: asyncio.Semaphore
    breaker: Breaker = field(default_factory=Breaker)


class Unreachable(Exception):
    """No instance of the server answered; ``detail`` says what the last one did."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ServerBackends:
    """Every `up` instance of one server, and its tools as the server itself lists them."""

    def __init__(self, name: str, settings: GatewaySettings, http: Pool) -> None:
        self.name = name
        self.settings = settings
        self.http = http
        self.instances: dict[str, Instance] = {}
        self.tools: list[dict[str, Any]] | None = None  # None until fetched
        self.version: str | None = None
        self._turn = itertools.count()
        token = settings.token_for(name)
        self.headers = {"authorization": f"Bearer {token}"} if token else {}

    def set_instances(self, urls: dict[str, str]) -> None:
        """The `up` instances now (id -> MCP URL); known ones keep their limits and breakers."""
        for gone in set(self.instances) - set(urls):
            del self.instances[gone]
        for instance_id, url in urls.items():
            known = self.instances.get(instance_id)
            if known is None or known.url != url:
                limit = asyncio.Semaphore(self.settings.backend_concurrency)
                self.instances[instance_id] = Instance(instance_id, url, limit)

    def _order(self) -> list[Instance]:
        """Instances starting at the next in turn, those with an open breaker last."""
        ring = list(self.instances.values())
        if not ring:
            return []
        start = next(self._turn) % len(ring)
        ring = ring[start:] + ring[:start]
        now = time.monotonic()
        return [i for i in ring if i.breaker.allows(now)] + [i for i in ring if not i.breaker.allows(now)]

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None,
        headers: dict[str, str],
        *,
        retry_sent: bool,
        on_progress: Progress | None = None,
    ) -> dict[str, Any]:
        """One request, failing over to the next instance when one cannot be reached.

        The caller bounds the whole attempt with its deadline; this never waits on an instance
        whose breaker is open while another is available.
        """
        from . import wire

        detail = "no instance is up"
        now = time.monotonic()
        for instance in self._order():
            if not instance.breaker.allows(now) and detail != "no instance is up":
                break  # every remaining instance is refusing; report the last real failure
            if not instance.breaker.allows(now):
                detail = f"breaker open after {instance.breaker.failures} failures"
                continue
            try:
                async with instance.limit:
                    result = await wire.request(
                        self.http,
                        instance.url,
                        method,
                        params,
                        {**self.headers, **headers},
                        on_progress,
                        self.settings.call_timeout_seconds,
                    )
            except wire.WireError as exc:
                instance.breaker.failed(
                    time.monotonic(), self.settings.breaker_failures, self.settings.breaker_reset_seconds
                )
                detail = exc.detail
                if exc.sent and not retry_sent:
                    break
                continue
            except asyncio.CancelledError:
                # The deadline ran out while this instance held the call: count it against it.
                instance.breaker.failed(
                    time.monotonic(), self.settings.breaker_failures, self.settings.breaker_reset_seconds
                )
                raise
            instance.breaker.succeeded()
            return result
        raise Unreachable(detail)

    @property
    def breaker(self) -> str:
        states = {i.breaker.state for i in self.instances.values()}
        return "open" if states == {"open"} else "closed"
