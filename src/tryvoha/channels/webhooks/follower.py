"""The log as the delivering process hears of it: it asks the store for the head every
FOLLOW_SECONDS, reads what is new once, and keeps the newest events in memory for every
endpoint that keeps up. (The serving processes hear of new events through their feed;
the delivering process is not one of them, see process.py.)"""

from __future__ import annotations

import asyncio

import orjson

from tryvoha.domain.events import Seq, is_historical
from tryvoha.domain.regions import RegionId
from tryvoha.engine.feed import Recent, RecentEvents
from tryvoha.store.base import EventLog

FOLLOW_SECONDS = 0.05  # a new event reaches the endpoints at most this much later
KEPT = 4096
PAGE = 1000


class LogFollower:
    def __init__(self, log: EventLog, start: Seq, kept: int = KEPT) -> None:
        self.log = log
        self.recent = RecentEvents(kept)
        self.announced = start
        self._waiters: list[tuple[Seq, asyncio.Future[None]]] = []

    def recent_after(self, after: Seq, limit: int) -> list[Recent] | None:
        return self.recent.page(after, limit, self.announced)

    async def wait_for(self, seq: Seq) -> None:
        if self.announced >= seq:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, future))
        await future

    async def run(self) -> None:
        """Follow the log until cancelled."""
        while True:
            await self.catch_up()
            await asyncio.sleep(FOLLOW_SECONDS)

    async def catch_up(self) -> None:
        if await self.log.last_seq() <= self.announced:
            return
        while True:
            raws = await self.log.read_events(self.announced, PAGE)
            for raw in raws:
                data = orjson.loads(raw)
                seq = Seq(int(data["seq"]))
                self.recent.append(
                    Recent(
                        seq,
                        data["type"],
                        RegionId(data["alert"]["region_id"]),
                        is_historical(data["issuer"]),
                        raw,
                    )
                )
                self.announced = seq
            self._wake()
            if len(raws) < PAGE:
                return

    def _wake(self) -> None:
        waiting = []
        for seq, future in self._waiters:
            if seq <= self.announced:
                if not future.done():
                    future.set_result(None)
            elif not future.done():
                waiting.append((seq, future))
        self._waiters = waiting
