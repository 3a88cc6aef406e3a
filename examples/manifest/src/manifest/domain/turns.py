"""Bulk reads take turns with the rest of the event loop.

The server answers every request on one event loop, which serves ready connections round
robin: 32 clients paging the registry would get 32 pages built for every round of heartbeats,
and liveness would starve behind reads. A ``Turns`` gate lets one bulk read run per loop
round; the others wait (costing nothing while they wait) until the round after. Heartbeats,
lookups and ``/health`` never pass the gate, so however many readers queue, every heartbeat
waits for at most one page.

A hand-written gate because asyncio's primitives hand a released slot on within the same
round: a semaphore of 1 around code that never awaits is never even contended.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque


class _LoopTurns:
    """The queue of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.busy = False
        self.queue: deque[asyncio.Future[None]] = deque()

    async def take(self) -> None:
        if not self.busy:
            self.busy = True
            return
        future = self.loop.create_future()
        self.queue.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.done()  # the turn was handed over just as the caller gave up: pass it on
            raise

    def done(self) -> None:
        # the next turn starts on the next loop round, after whatever else is ready now
        self.loop.call_soon(self._next)

    def _next(self) -> None:
        while self.queue:
            future = self.queue.popleft()
            if not future.done():
                future.set_result(None)
                return
        self.busy = False


class Turns:
    """At most one holder per loop round (per event loop: the CLI runs a loop per call)."""

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopTurns] = weakref.WeakKeyDictionary()

    def _for(self) -> _LoopTurns:
        loop = asyncio.get_running_loop()
        turns = self._loops.get(loop)
        if turns is None:
            turns = self._loops[loop] = _LoopTurns(loop)
        return turns

    async def __aenter__(self) -> None:
        await self._for().take()

    async def __aexit__(self, *exc: object) -> None:
        self._for().done()
