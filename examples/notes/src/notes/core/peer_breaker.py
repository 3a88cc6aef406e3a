"""A circuit breaker per peer instance (``core/peers.py``).

Written here rather than taken from a library: pybreaker holds one lock for the whole guarded
call, so concurrent calls to one peer instance from a server's worker threads would run one
at a time (a slow call would hold up every other); purgatory is built for asyncio, runs a
message bus on every call and guards its synchronous state with no lock. What a breaker must
do is small: count, open, wait, let one trial through.

- closed: calls go through; ``failures`` unanswered calls in a row open it;
- open: calls are refused at once for ``reset`` seconds;
- half-open: one trial call goes through; an answer closes the circuit, no answer opens it
  again. A trial that ended without telling (input refused before sending) lets the next
  call try.
"""

from __future__ import annotations

import threading
import time


class Breaker:
    def __init__(self, failures: int, reset: float) -> None:
        self.failures, self.reset = failures, reset
        self._lock = threading.Lock()  # held only to read or change the counters, never for a call
        self._count = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half-open" if self._trial else "open"

    def allow(self) -> bool:
        """Whether a call may go through now (a trial call when the wait is over)."""
        with self._lock:
            if self._opened_at is None:
                return True
            if not self._trial and time.monotonic() - self._opened_at >= self.reset:
                self._trial = True
                return True
            return False

    def succeeded(self) -> None:
        """The instance answered (a problem counts: it is up)."""
        with self._lock:
            self._count, self._opened_at, self._trial = 0, None, False

    def failed(self) -> None:
        """The instance did not answer: unreachable, dropped or late."""
        with self._lock:
            self._count += 1
            if self._trial or self._count >= self.failures:
                self._opened_at, self._trial = time.monotonic(), False

    def released(self) -> None:
        """The call ended without telling whether the instance is up."""
        with self._lock:
            self._trial = False
