"""The ordered feed of committed events in one process: the projection and every listener
(streams, channels) see each event exactly once, in `seq` order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tryvoha.domain.events import Event, Seq, is_historical
from tryvoha.domain.projection import Projection
from tryvoha.domain.regions import RegionId
from tryvoha.protocol.wire import decode_event

log = logging.getLogger(__name__)

RECENT_EVENTS = 20_000  # kept in memory, so a reconnecting subscriber resumes without the store


class FeedGapError(Exception):
    """An event arrived before one it depends on: the source skipped part of the log."""


@dataclass(frozen=True, slots=True)
class Recent:
    seq: Seq
    type: str
    region_id: RegionId
    historical: bool
    raw: bytes


Listener = Callable[[Sequence[tuple[Event, bytes]]], None]  # a batch, in seq order


class RecentEvents:
    """The newest events, indexed by seq: a page from any seq is a slice, not a walk.

    Events arrive gap-free in seq order, so event `seq` lives at `seq % capacity`; the
    oldest kept is `first`. Holds at most `capacity` events."""

    __slots__ = ("_items", "capacity", "first", "last")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: list[Recent | None] = [None] * capacity
        self.first = 0  # no event kept: first > last
        self.last = -1

    def __len__(self) -> int:
        return max(0, self.last - self.first + 1)

    def append(self, item: Recent) -> None:
        if self.last >= self.first and item.seq != self.last + 1:
            self.clear()  # not contiguous (a fresh start): what was kept no longer joins up
        if self.last < self.first:
            self.first = item.seq
        self._items[item.seq % self.capacity] = item
        self.last = item.seq
        if self.last - self.first >= self.capacity:
            self.first = self.last - self.capacity + 1

    def clear(self) -> None:
        self._items = [None] * self.capacity
        self.first, self.last = 0, -1

    def page(self, after: int, limit: int, upto: int) -> list[Recent] | None:
        """Up to `limit` events after `after`, none beyond `upto`; None when memory no
        longer reaches back to `after + 1`."""
        if after >= upto:
            return []
        if self.last < self.first or not self.first <= after + 1 <= self.last:
            return None
        end = min(after + limit, upto, self.last)
        items = self._items
        size = self.capacity
        return [items[seq % size] for seq in range(after + 1, end + 1)]  # type: ignore[misc]


class Feed:
    """Events are applied to the projection at once, and announced to the listeners (the
    fan-out) a moment later, on the next turn of the event loop: a write's answer goes out
    before its fan-out to tens of thousands of sockets, and several commits that land
    together reach each subscriber as one write. Subscribers joining in between are given
    only what has been announced, so nobody gets an event twice or misses one."""

    def __init__(self, projection: Projection, recent: int = RECENT_EVENTS) -> None:
        self.projection = projection
        self.recent = RecentEvents(recent)
        self.announced = projection.seq  # the last seq the listeners have been given
        self._pending: list[tuple[Event, bytes]] = []
        self._listeners: list[Listener] = []
        self._waiters: list[tuple[Seq, asyncio.Future[None]]] = []

    @property
    def seq(self) -> Seq:
        """The last seq applied to the projection."""
        return self.projection.seq

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unlisten(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def remember(self, event: Event, raw: bytes) -> None:
        """Fill the recent buffer at start-up (events the projection has already applied)."""
        self.recent.append(
            Recent(
                event.seq, event.type.value, event.alert.region_id, is_historical(event.issuer), raw
            )
        )

    def ingest(self, items: Sequence[tuple[Event, bytes]]) -> int:
        """Apply committed events in order and have them announced on the next turn of
        the loop, with whatever else arrives meanwhile, as one batch (a nationwide
        declare is one write per subscriber, not 27). Events seen already are skipped;
        how many were new."""
        applied: list[tuple[Event, bytes]] = []
        try:
            for event, raw in items:
                if event.seq <= self.projection.seq:
                    continue
                if event.seq != self.projection.seq + 1:
                    raise FeedGapError(f"event {event.seq} arrived after {self.projection.seq}")
                self.projection.apply(event)
                self.recent.append(
                    Recent(
                        event.seq,
                        event.type.value,
                        event.alert.region_id,
                        is_historical(event.issuer),
                        raw,
                    )
                )
                applied.append((event, raw))
        finally:
            if applied:
                if not self._pending:
                    asyncio.get_running_loop().call_soon(self.announce)
                self._pending.extend(applied)
        return len(applied)

    def ingest_raw(self, raws: Sequence[bytes]) -> int:
        return self.ingest([(decode_event(raw), raw) for raw in raws])

    def announce(self) -> None:
        """Give the listeners everything applied since the last announcement, as one batch."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        self.announced = batch[-1][0].seq
        for listener in self._listeners:
            try:
                listener(batch)
            except Exception:  # one broken listener must not stop the others
                log.exception("listener %r failed on events up to %s", listener, self.announced)
        if self._waiters:
            self._wake()

    def recent_after(self, after: Seq, limit: int = RECENT_EVENTS) -> list[Recent] | None:
        """Up to `limit` announced events after `after` from memory, or None when memory
        no longer reaches back."""
        return self.recent.page(after, limit, self.announced)

    def applied_after(self, after: int) -> list[Recent]:
        """Events applied after `after` (announced or not), as far back as memory holds:
        for read models that follow the projection itself, not the streams."""
        start = max(after, self.recent.first - 1)
        return self.recent.page(start, self.recent.capacity, self.seq) or []

    async def wait_for(self, seq: Seq) -> None:
        """Until the listeners have been given seq."""
        if self.announced >= seq:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, future))
        await future

    def _wake(self) -> None:
        pending = []
        for seq, future in self._waiters:
            if seq <= self.announced:
                if not future.done():
                    future.set_result(None)
            else:
                pending.append((seq, future))
        self._waiters = pending
