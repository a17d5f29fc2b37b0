"""The events after an endpoint's cursor, shared by every endpoint: each event is looked
at once (its region's bit, its threat type, whether it is historical), however many
endpoints are sent it.

Endpoints that keep up ask for the same few newest events: they come from the process's
memory (the feed) and from a small cache here. One that is behind (resumed after days
suspended, or replaying) reads the log a page at a time, as the streams' catch-up does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson

from tryvoha.domain.events import Seq, is_historical
from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.store.base import EventLog

CACHED_EVENTS = 4096


@dataclass(frozen=True, slots=True)
class Item:
    seq: Seq
    region_bit: int  # the region's bit in the tree's related masks (0: not in the tree)
    threat: str
    historical: bool
    raw: bytes  # the body of the delivery: the bytes every stream sends


class Held(Protocol):
    @property
    def seq(self) -> Seq: ...

    @property
    def raw(self) -> bytes: ...


class Announcer(Protocol):
    """Where new events are heard of: the serving process's feed, or a follower of the
    log (the delivering process's own)."""

    @property
    def announced(self) -> Seq: ...

    def recent_after(self, after: Seq, limit: int) -> Sequence[Held] | None: ...

    async def wait_for(self, seq: Seq) -> None: ...


class EventWindow:
    def __init__(self, feed: Announcer, log: EventLog, tree: RegionTree) -> None:
        self.feed = feed
        self.log = log
        self.tree = tree
        self._cache: dict[int, Item] = {}

    async def after(self, seq: Seq, limit: int) -> list[Item]:
        """Up to `limit` announced events after `seq`, in order, at least one: waits for it."""
        while True:
            found = await self.now_after(seq, limit)
            if found:
                return found
            await self.feed.wait_for(Seq(seq + 1))

    async def now_after(self, seq: Seq, limit: int, keep: bool = True) -> list[Item]:
        """Up to `limit` announced events after `seq` (none: none yet); `keep` False for a
        one-off look that should not push the newest events out of the cache."""
        upto = min(seq + limit, self.feed.announced)
        cached = []
        for n in range(seq + 1, upto + 1):
            item = self._cache.get(n)
            if item is None:
                break
            cached.append(item)
        else:
            return cached
        recent = self.feed.recent_after(seq, limit)
        if recent is not None:
            items = [self._cache.get(r.seq) or self._item(r.raw, keep) for r in recent]
        else:
            items = [self._item(raw, keep) for raw in await self.log.read_events(seq, limit)]
        return [item for item in items if item.seq <= self.feed.announced]

    def _item(self, raw: bytes, keep: bool) -> Item:
        data = orjson.loads(raw)
        seq = int(data["seq"])
        alert = data["alert"]
        region = RegionId(alert["region_id"])
        bit = self.tree.bit(region) if region in self.tree else 0
        item = Item(Seq(seq), bit, str(alert["threat"]), is_historical(data["issuer"]), raw)
        if not keep:
            return item
        if len(self._cache) >= CACHED_EVENTS:
            for old in list(self._cache)[: CACHED_EVENTS // 2]:  # the oldest half
                del self._cache[old]
        self._cache[seq] = item
        return item
