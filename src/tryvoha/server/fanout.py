"""Fan-out: every committed event, encoded once, written to every subscriber that wants it.

Subscribers are grouped by transport kind and region filter. For each event the groups
that match are found once, the frame is built once per kind, and the same bytes are
written to each member; no task or queue per subscriber. A member whose socket cannot
keep up (its unsent bytes pass SLOW_BYTES) is dropped: it reconnects with its last seq
and loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import orjson

from tryvoha.domain.events import Event, Seq, is_historical
from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.engine.feed import Feed
from tryvoha.protocol.sse import HEARTBEAT, WS_PING, chunk, sse_frame, ws_text_frame
from tryvoha.store.base import Store

log = logging.getLogger(__name__)

SLOW_BYTES = 1 << 20  # unsent bytes a subscriber may lag before it is dropped
HEARTBEAT_SECONDS = 15.0  # every subscriber hears something at least this often
HEARTBEAT_SLICES = 15
CATCH_UP_PAGE = 1000
SETTLE_SECONDS = 2.0


class Kind(StrEnum):
    SSE = "sse"  # Server-Sent Events frames, for sinks behind an ASGI server
    SSE_CHUNKED = "sse-chunked"  # the same, as HTTP/1.1 chunks, for raw sockets
    WS = "ws"  # WebSocket text frames, for raw sockets
    JSON = "json"  # one event JSON per line, for sinks that frame messages themselves


class Sink(Protocol):
    """One subscriber: takes encoded frames, never blocks."""

    def write(self, data: bytes) -> None: ...

    def get_write_buffer_size(self) -> int: ...

    def close(self) -> None: ...

    def is_closing(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Filter:
    """What a subscriber follows. Regions: an event matches when its region contains one
    of them, lies inside one, or is one; none: every region. Events imported from the
    historical record only when `history` is asked for (see domain.events)."""

    regions: frozenset[RegionId] = frozenset()
    history: bool = False

    def matches(self, tree: RegionTree, region_id: RegionId, historical: bool) -> bool:
        if historical and not self.history:
            return False
        return not self.regions or any(tree.related(region_id, r) for r in self.regions)


ALL = Filter()


@dataclass(slots=True)
class Group:
    kind: Kind
    filter: Filter
    members: set[Sink] = field(default_factory=set)


def frame_for(kind: Kind, seq: int, event_type: str, raw: bytes) -> bytes:
    if kind is Kind.SSE:
        return sse_frame(seq, event_type, raw)
    if kind is Kind.SSE_CHUNKED:
        return chunk(sse_frame(seq, event_type, raw))
    if kind is Kind.WS:
        return ws_text_frame(raw)
    return raw + b"\n"  # JSON lines: the event JSON never holds a raw newline


HEARTBEATS: dict[Kind, bytes] = {
    Kind.SSE: HEARTBEAT,
    Kind.SSE_CHUNKED: chunk(HEARTBEAT),
    Kind.WS: WS_PING,
}


class Fanout:
    def __init__(
        self, feed: Feed, tree: RegionTree, store: Store, catch_up: Callable[[], Awaitable[int]]
    ) -> None:
        self.feed = feed
        self.tree = tree
        self.store = store
        self.catch_up = catch_up  # read what the store has beyond this process's feed
        self._groups: dict[tuple[Kind, Filter], Group] = {}
        self._member_of: dict[Sink, Group] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self.dropped_slow = 0
        feed.listen(self.publish)

    def __len__(self) -> int:
        return len(self._member_of)

    def start(self) -> None:
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for sink in list(self._member_of):
            sink.close()
        self._groups.clear()
        self._member_of.clear()

    # -- the hot path ---------------------------------------------------------

    def publish(self, batch: Sequence[tuple[Event, bytes]]) -> None:
        """Write a batch of events (one commit's, usually) to every matching subscriber:
        the frames are built once per transport and each subscriber gets one write."""
        whole: dict[tuple[Kind, bool], bytes] = {}
        for group in list(self._groups.values()):  # a slow member's removal may drop a group
            if not group.members:
                continue
            flt = group.filter
            if flt.regions:
                data = b"".join(
                    frame_for(group.kind, e.seq, e.type.value, raw)
                    for e, raw in batch
                    if flt.matches(self.tree, e.alert.region_id, is_historical(e.issuer))
                )
            else:
                key = (group.kind, flt.history)
                data = whole.get(key, b"")
                if key not in whole:
                    data = whole[key] = b"".join(
                        frame_for(group.kind, e.seq, e.type.value, raw)
                        for e, raw in batch
                        if flt.history or not is_historical(e.issuer)
                    )
            if data:
                self._write_all(group, data)

    def _write_all(self, group: Group, data: bytes, members: Iterable[Sink] | None = None) -> None:
        slow: list[Sink] = []
        for sink in group.members if members is None else members:
            sink.write(data)
            if sink.get_write_buffer_size() > SLOW_BYTES:
                slow.append(sink)
        for sink in slow:
            self.dropped_slow += 1
            self.unsubscribe(sink)
            sink.close()

    async def _beat(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS / HEARTBEAT_SLICES)
            self.heartbeat(tick % HEARTBEAT_SLICES, HEARTBEAT_SLICES)
            tick += 1

    def heartbeat(self, part: int = 0, parts: int = 1) -> None:
        """A comment to every SSE subscriber, a ping to every WebSocket: silence then means
        a dead connection, to clients and to the proxies between. Spread over the interval
        (each subscriber in the same slice every time) so a heartbeat never costs as much
        as a nationwide declare arriving at the same moment."""
        for group in list(self._groups.values()):
            beat = HEARTBEATS.get(group.kind)
            if beat is None:
                continue
            if parts == 1:
                self._write_all(group, beat)
            else:
                self._write_all(
                    group, beat, [s for s in group.members if (id(s) >> 4) % parts == part]
                )

    # -- subscribing ----------------------------------------------------------

    def join(self, sink: Sink, kind: Kind, flt: Filter = ALL, after: Seq | None = None) -> bool:
        """Send the events after `after` from memory and join the live stream, in one step
        (nothing can come between). False, having done nothing, when memory does not reach
        back that far, or this process has not yet reached `after`: then `subscribe`."""
        if sink.is_closing():
            return True  # gone while it waited: nothing to join
        if after is not None:
            if after > self.feed.announced:
                return False
            recent = self.feed.recent_after(after)
            if recent is None:
                return False
            for item in recent:
                if flt.matches(self.tree, item.region_id, item.historical):
                    sink.write(frame_for(kind, item.seq, item.type, item.raw))
        key = (kind, flt)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(kind, flt)
        group.members.add(sink)
        self._member_of[sink] = group
        return True

    async def subscribe(
        self, sink: Sink, kind: Kind, flt: Filter = ALL, after: Seq | None = None
    ) -> None:
        """Send the events after `after` (if given), then every new one. Whoever drains the
        sink must already be draining it: a long catch-up waits for the sink to empty."""
        while not self.join(sink, kind, flt, after):
            assert after is not None
            if after > self.feed.announced:
                if not await self.settle(after):
                    sink.close()  # ahead of the log after all (the caller checked): resume anew
                    return
                continue
            reached = await self._catch_up_from_store(sink, kind, flt, after)
            if sink.is_closing() or reached == after:
                # no progress: never skip silently; the subscriber reconnects and resumes
                sink.close()
                return
            after = reached

    async def settle(self, after: Seq) -> bool:
        """Whether the log reaches `after`, having waited (briefly) for this process to
        reach it too: a client that saw seq N on one serving process may reconnect to
        another that is a few milliseconds behind. False: the seq is ahead of the log."""
        if after <= self.feed.announced:
            return True
        if await self.store.last_seq() < after:
            return False
        try:
            await asyncio.wait_for(self.feed.wait_for(after), SETTLE_SECONDS)
        except TimeoutError:
            await self.catch_up()  # the bus is late: read the store ourselves
            await asyncio.wait_for(self.feed.wait_for(after), SETTLE_SECONDS)
        return True

    async def _catch_up_from_store(self, sink: Sink, kind: Kind, flt: Filter, after: Seq) -> Seq:
        """Older events than memory holds come from the log, a page at a time, never
        beyond what this process has applied (the live stream brings the rest)."""
        while self.feed.recent_after(after) is None and not sink.is_closing():
            raws = await self.store.read_events(after, CATCH_UP_PAGE)
            if not raws:
                break
            for raw in raws:
                data = orjson.loads(raw)
                seq = Seq(data["seq"])
                if seq > self.feed.announced:
                    return after
                if flt.matches(
                    self.tree, RegionId(data["alert"]["region_id"]), is_historical(data["issuer"])
                ):
                    sink.write(frame_for(kind, seq, data["type"], raw))
                after = seq
            if sink.get_write_buffer_size() > SLOW_BYTES:
                await _drain(sink)
        return after

    def unsubscribe(self, sink: Sink) -> None:
        group = self._member_of.pop(sink, None)
        if group is not None:
            group.members.discard(sink)
            if not group.members:
                del self._groups[(group.kind, group.filter)]


async def _drain(sink: Sink) -> None:
    while sink.get_write_buffer_size() > SLOW_BYTES // 2 and not sink.is_closing():
        await asyncio.sleep(0.01)
