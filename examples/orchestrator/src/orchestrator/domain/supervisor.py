"""Supervision while the orchestrator serves: a crashed server is restarted, with backoff.

A background thread looks at every stack under ``<data_dir>/stacks/`` a few times a second.
A server whose recorded process is gone (down clears the record, so only a crash looks like
this) is started again through the same health gate as apply. Restarts back off exponentially;
after ``limit`` crashes within ``window`` seconds the server is marked failed and left alone
until the next apply. A stack busy with an apply, down or reset is skipped that round.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from . import processes as proc
from .engine import Decision, Engine
from .errors import StackBusy, StackInvalid
from .stackfile import parse
from .state import StackState

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = 0.1,
        limit: int = 5,
        window: float = 60.0,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
    ) -> None:
        self.engine = engine
        self.interval, self.limit, self.window = interval, limit, window
        self.backoff, self.max_backoff = backoff, max_backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._crashes: dict[tuple[str, str], list[float]] = {}
        self._not_before: dict[tuple[str, str], float] = {}

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="supervisor", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            stacks = self.engine.data_dir / "stacks"
            for state_file in sorted(stacks.glob("*/state.json")) if stacks.exists() else []:
                try:
                    self.check(state_file.parent)
                except Exception:  # never let one stack's trouble stop supervision of the others
                    log.exception("supervising %s failed", state_file.parent.name)

    def _crashed(self, state: StackState) -> list[str]:
        return [
            name
            for name, rec in state.servers.items()
            if rec.pid and not rec.failed and not proc.alive(rec.pid, rec.start_time)
        ]

    def check(self, root: Path) -> None:
        """One round for one stack: restart what crashed and is due."""
        state = StackState.open(root)
        if not state.stack_text or not self._crashed(state):
            return
        try:
            with state.locked():
                state = StackState.open(root)  # read again under the lock: an apply may just have run
                try:
                    loaded = parse(state.stack_text or "", Path(state.base or "."), "supervised stack")
                except StackInvalid:
                    return
                order = [n for level in self.engine._order(loaded) for n in level]
                for name in [n for n in order if n in self._crashed(state)]:
                    self._restart(loaded, state, name)
        except StackBusy:
            return

    def _restart(self, loaded: object, state: StackState, name: str) -> None:
        key = (state.root.name, name)
        now = time.monotonic()
        if now < self._not_before.get(key, 0.0):
            return
        crashes = [t for t in self._crashes.get(key, []) if now - t < self.window] + [now]
        self._crashes[key] = crashes
        rec = state.servers[name]
        if len(crashes) > self.limit:
            rec.failed, rec.pid, rec.start_time = True, None, None
            state.save()
            log.error("server %s crashed %d times within %g s: marked failed", name, len(crashes), self.window)
            return
        rec.restarts += 1
        log.warning("server %s exited; restarting (restart %d)", name, rec.restarts)
        phase = self.engine._phase(loaded, name)  # type: ignore[arg-type]
        try:
            self.engine._bring_up(loaded, state, Decision(name, False, "start", "crashed"), phase, [])  # type: ignore[arg-type]
            self._not_before.pop(key, None)
        except proc.StepFailed as exc:
            log.warning("restart of %s failed: %s", name, exc.reason)
            delay = min(self.max_backoff, self.backoff * 2 ** (len(crashes) - 1))
            self._not_before[key] = time.monotonic() + delay
            if rec.pid:
                proc.stop(rec.pid, rec.start_time)
                # keep the pid recorded as "ours but dead", so the next round tries again
            state.save()
