"""The ordered feed of committed events in one process: the projection and every listener
(streams, channels) see each event exactly once, in `seq` order."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
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


class Feed:
    def __init__(self, projection: Projection, recent: int = RECENT_EVENTS) -> None:
        self.projection = projection
        self.recent: deque[Recent] = deque(maxlen=recent)
        self._listeners: list[Listener] = []
        self._waiters: list[tuple[Seq, asyncio.Future[None]]] = []

    @property
    def seq(self) -> Seq:
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
        """Apply committed events in order and tell the listeners, once per batch (a
        nationwide declare is one write per subscriber, not 27). Events seen already are
        skipped; how many were new."""
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
                self._notify(applied)
        return len(applied)

    def ingest_raw(self, raws: Sequence[bytes]) -> int:
        return self.ingest([(decode_event(raw), raw) for raw in raws])

    def _notify(self, applied: list[tuple[Event, bytes]]) -> None:
        for listener in self._listeners:
            try:
                listener(applied)
            except Exception:  # one broken listener must not stop the others
                log.exception("listener %r failed on events up to %s", listener, applied[-1][0].seq)
        if self._waiters:
            self._wake()

    def recent_after(self, after: Seq) -> list[Recent] | None:
        """Events after `after` from memory, or None when memory no longer reaches back."""
        if after >= self.seq:
            return []
        if not self.recent or self.recent[0].seq > after + 1:
            return None
        start = after + 1 - self.recent[0].seq
        return [self.recent[i] for i in range(start, len(self.recent))]

    async def wait_for(self, seq: Seq) -> None:
        """Until the projection has reached seq."""
        if self.seq >= seq:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, future))
        await future

    def _wake(self) -> None:
        pending = []
        for seq, future in self._waiters:
            if seq <= self.seq:
                if not future.done():
                    future.set_result(None)
            else:
                pending.append((seq, future))
        self._waiters = pending
