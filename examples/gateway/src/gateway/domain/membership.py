"""Membership from the registry: list once, then follow its ``watch`` (a long poll).

Every answer to a watch that carries events triggers one fresh listing, so the member list is
always a whole snapshot of the registry, never a replay of deltas that could drift. The
registry marks an instance ``unknown`` when it misses its TTL and sends that as an event, so
a dead server leaves the list within the TTL plus one round trip. When the registry cannot be
reached the last snapshot is kept (the servers themselves may well be fine) and the follower
retries with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

log = logging.getLogger(__name__)
PAGE = 1000

Snapshot = Callable[[list[dict[str, Any]]], Awaitable[None]]


class Follower:
    def __init__(self, http: httpx.AsyncClient, wait: float, on_snapshot: Snapshot) -> None:
        self.http = http
        self.wait = wait
        self.on_snapshot = on_snapshot
        self.index = 0
        self.following = False

    async def snapshot(self) -> None:
        """Every registered instance (all statuses), page by page, then hand it over."""
        instances: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": PAGE}
        while True:
            response = await self.http.get("/v1/instances", params=params)
            response.raise_for_status()
            page = response.json()
            if "cursor" not in params:
                self.index = int(page["index"])
            instances += page["instances"]
            if not page.get("next_cursor"):
                break
            params["cursor"] = page["next_cursor"]
        await self.on_snapshot(instances)

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                await self.snapshot()
                self.following = True
                backoff = 0.2
                while True:
                    response = await self.http.get(
                        "/v1/watch", params={"index": self.index, "wait": self.wait}, timeout=self.wait + 5
                    )
                    if response.status_code != 200:
                        break  # revision_compacted (or any refusal): list afresh
                    answer = response.json()
                    if answer["events"]:
                        await self.snapshot()
                    else:
                        self.index = int(answer["index"])
            except asyncio.CancelledError:
                raise
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                self.following = False
                log.warning("registry not reachable (%s); keeping the last membership", exc)
                await asyncio.sleep(backoff * (1 + random.random()))
                backoff = min(backoff * 2, 10.0)
            except Exception:
                # Anything else (a backend's answer the gateway did not expect) must not end the
                # watch for good while `following` still says true: log it and list afresh.
                self.following = False
                log.exception("following the registry failed; listing it afresh")
                await asyncio.sleep(backoff * (1 + random.random()))
                backoff = min(backoff * 2, 10.0)
