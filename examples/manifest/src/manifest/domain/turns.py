"""Bulk reads take turns with the rest of the event loop.

The server answers every request on one event loop, which serves ready connections round
robin: 32 clients paging the registry would get 32 pages built for every round of heartbeats,
and liveness would starve behind reads (a page of 100 records costs about nine heartbeats).
A ``Turns`` gate lets one bulk read run every ``ROUNDS`` loop rounds; the others wait (costing
nothing while they wait). Heartbeats, lookups and ``/health`` never pass the gate, so however
many readers queue, pages take a bounded share of a busy loop. The pacing counts rounds, not
time, and applies only while readers queue: a lone reader never waits.

A hand-written gate because asyncio's primitives hand a released slot on within the same
round: a semaphore of 1 around code that never awaits is never even contended.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque

#: Loop rounds between two bulk reads while readers queue (a busy round serves every ready
#: connection once: with 16 heartbeating connections, about 128 heartbeats per page).
ROUNDS = 16


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
        # While readers queue, the next turn starts ROUNDS loop rounds later, after whatever
        # else is ready by then; with nobody queued, on the next round (a lone reader does not
        # spin the loop through empty rounds).
        self.loop.call_soon(self._after, ROUNDS - 1 if self.queue else 0)

    def _after(self, rounds: int) -> None:
        if rounds:
            self.loop.call_soon(self._after, rounds - 1)
        else:
            self._next()

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
