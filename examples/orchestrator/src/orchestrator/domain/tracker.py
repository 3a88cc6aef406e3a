"""What one apply reports while it runs: progress per server and part, the time each part took,
and whether a caller asked it to stop.

apply is a long-running operation (see ``operations.py``): its progress reaches the CLI's bar,
the REST operation resource and MCP progress notifications; a cancel stops the run at its next
check and the run then stops what it started, as after a failure.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from ..core.longrun import NEVER, NO_PROGRESS, Cancellation, Progress
from .models import Timing


class Tracker:
    def __init__(self, progress: Progress = NO_PROGRESS, cancel: Cancellation = NEVER, total: int = 1) -> None:
        self.progress, self.cancel = progress, cancel
        self.total = max(total, 1)
        self.done = 0
        self.timings: list[Timing] = []
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise ``OperationCancelled`` when a caller asked this run to stop."""
        self.cancel.raise_if_requested()

    def step(self, message: str) -> None:
        """One unit of the run is done (an install, a server up): report it."""
        with self._lock:
            self.done += 1
            fraction = min(self.done / self.total, 0.99)  # 1.0 only once the whole run returned
        self.progress.report(fraction, message)

    def note(self, message: str) -> None:
        """Say what the run is doing now without moving the fraction."""
        with self._lock:
            fraction = min(self.done / self.total, 0.99)
        self.progress.report(fraction, message)

    @contextlib.contextmanager
    def part(self, server: str, part: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.record(server, part, time.perf_counter() - start)

    def record(self, server: str, part: str, seconds: float) -> None:
        with self._lock:
            self.timings.append(Timing(server=server, part=part, seconds=round(seconds, 3)))  # type: ignore[arg-type]
