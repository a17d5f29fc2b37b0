"""The events after a channel's cursor: from this process's memory when it reaches back
that far, else from the log; waiting, when there is none yet, until one is announced."""

from __future__ import annotations

from tryvoha.domain.events import Event, Seq
from tryvoha.engine.feed import Feed
from tryvoha.protocol.wire import decode_event
from tryvoha.store.base import EventLog

Item = tuple[Event, bytes]  # an event and the bytes every stream sends for it


class EventSource:
    def __init__(self, feed: Feed, log: EventLog) -> None:
        self.feed = feed
        self.log = log

    async def after(self, seq: Seq, limit: int = 256) -> list[Item]:
        """Up to `limit` events after `seq`, in order, at least one: waits for it."""
        while True:
            found = await self.now_after(seq, limit)
            if found:
                return found
            await self.feed.wait_for(Seq(seq + 1))

    async def now_after(self, seq: Seq, limit: int = 256) -> list[Item]:
        """Up to `limit` events after `seq` that this process has announced (none: none yet)."""
        recent = self.feed.recent_after(seq, limit)
        if recent is not None:
            return [(decode_event(r.raw), r.raw) for r in recent]
        items = [(decode_event(raw), raw) for raw in await self.log.read_events(seq, limit)]
        return [item for item in items if item[0].seq <= self.feed.announced]
