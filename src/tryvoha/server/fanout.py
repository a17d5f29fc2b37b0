"""Fan-out: every committed event, encoded once, written to every subscriber that wants it,
and never more than a bounded amount held for any one of them.

A subscriber is *live* or *catching up*. Live subscribers sit in groups (same transport,
same filter): for each batch of events the frames are built once per group and the same
bytes are written to every member, with no task or queue per subscriber. A subscriber
that is catching up (it asked to resume after an older seq, or its socket fell behind)
holds only a cursor: its events are pulled from memory, or from the log, a page at a
time whenever its socket has room, with a turn of the event loop between pages, and it
joins its group again once it reaches the present. Nothing is pushed to a socket above
its high-water mark; one that takes nothing for `stall_seconds` while bytes wait for it
is aborted, its memory freed at once. It resumes by seq when it comes back, and loses
nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import orjson

from tryvoha.domain.events import Event, Seq, is_historical
from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.engine.feed import Feed
from tryvoha.protocol.sse import HEARTBEAT, WS_PING, chunk, sse_frame, ws_text_frame
from tryvoha.server.refusals import Refusals
from tryvoha.store.base import Store

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0  # every subscriber hears something at least this often
HEARTBEAT_SLICES = 15
SETTLE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Bounds:
    """What one subscriber may cost (settings: docs/self-host.md, "Limits")."""

    stall_seconds: float = 5.0  # congested this long without taking a byte: aborted
    page_bytes: int = 32_768  # a catch-up writes about this much, then yields the loop
    page_events: int = 256  # and reads at most this many events from memory at a time
    push_bytes: int = 131_072  # a live batch larger than this is paged, not pushed
    slice_seconds: float = 0.002  # catch-up work per turn of the loop, for everyone together


class Kind(StrEnum):
    SSE = "sse"  # Server-Sent Events frames, for sinks behind an ASGI server or HTTP/1.0
    SSE_CHUNKED = "sse-chunked"  # the same, as HTTP/1.1 chunks, for raw sockets
    WS = "ws"  # WebSocket text frames, for raw sockets
    JSON = "json"  # one event JSON per line, for sinks that frame messages themselves


class Sink(Protocol):
    """One subscriber's connection as the fan-out sees it. It tells its subscriber when it
    passes its high-water mark (`Subscriber.congested`) and when it has room again
    (`Subscriber.drained`)."""

    @property
    def congested(self) -> bool: ...

    def write(self, data: bytes) -> None: ...

    def abort(self) -> None:
        """Drop the connection now, whatever is unsent; free what it holds."""

    def is_closing(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Filter:
    """What a subscriber follows. Regions: an event matches when its region contains one
    of them, lies inside one, or is one; none: every region. Events imported from the
    historical record only when `history` is asked for (see domain.events)."""

    regions: frozenset[RegionId] = frozenset()
    history: bool = False


ALL = Filter()


def frame_for(kind: Kind, seq: int, event_type: str, raw: bytes) -> bytes:
    if kind is Kind.SSE:
        return sse_frame(seq, event_type, raw)
    if kind is Kind.SSE_CHUNKED:
        return chunk(sse_frame(seq, event_type, raw))
    if kind is Kind.WS:
        return ws_text_frame(raw)
    return raw + b"\n"  # JSON lines: the event JSON never holds a raw newline


def note_frame(kind: Kind, note: dict[str, object]) -> bytes:
    """A message that is not an event (`resync`), in the kind's framing."""
    name = str(note["type"])
    if kind in (Kind.SSE, Kind.SSE_CHUNKED):
        data = {k: v for k, v in note.items() if k != "type"}
        frame = b"event: %s\ndata: %s\n\n" % (name.encode(), orjson.dumps(data))
        return chunk(frame) if kind is Kind.SSE_CHUNKED else frame
    if kind is Kind.WS:
        return ws_text_frame(orjson.dumps(note))
    return orjson.dumps(note) + b"\n"


HEARTBEATS: dict[Kind, bytes] = {
    Kind.SSE: HEARTBEAT,
    Kind.SSE_CHUNKED: chunk(HEARTBEAT),
    Kind.WS: WS_PING,
}


class Subscriber:
    """One subscriber: live in a group, or catching up from `cursor`."""

    __slots__ = (
        "cursor",
        "fanout",
        "group",
        "history",
        "kind",
        "mask",
        "queued",
        "sink",
        "task",
        "write",
    )

    def __init__(self, fanout: Fanout, sink: Sink, kind: Kind, history: bool, mask: int) -> None:
        self.fanout = fanout
        self.sink = sink
        self.write = sink.write
        self.kind = kind
        self.history = history
        self.mask = mask  # 0: every region
        self.cursor = Seq(0)  # catching up: the last seq written to the sink
        self.group: Group | None = None  # live: the group it is in
        self.task: asyncio.Task[None] | None = None  # settling a seq ahead of this process
        self.queued = False  # waiting for its next page

    def congested(self) -> None:
        """Its sink passed its high-water mark."""
        self.fanout.congested(self)

    def drained(self) -> None:
        """Its sink has room again."""
        self.fanout.drained(self)

    def close(self) -> None:
        """The connection is gone: forget it."""
        self.fanout.unsubscribe(self)

    def matches(self, tree: RegionTree, region_id: RegionId, historical: bool) -> bool:
        if historical and not self.history:
            return False
        return not self.mask or bool(self.mask & tree.bit(region_id))


@dataclass(slots=True, eq=False)
class Group:
    kind: Kind
    history: bool
    mask: int
    members: set[Subscriber] = field(default_factory=set)


class Fanout:
    def __init__(
        self,
        feed: Feed,
        tree: RegionTree,
        store: Store,
        catch_up: Callable[[], Awaitable[int]],
        bounds: Bounds = Bounds(),
        clock: Callable[[], float] = time.monotonic,
        refusals: Refusals | None = None,
    ) -> None:
        self.feed = feed
        self.tree = tree
        self.store = store
        self.catch_up = catch_up  # read what the store has beyond this process's feed
        self.bounds = bounds
        self.clock = clock
        self._groups: dict[tuple[Kind, bool, int], Group] = {}
        self._subscribers: set[Subscriber] = set()
        self._congested: dict[Subscriber, float] = {}  # since when
        self._masks: dict[frozenset[RegionId], int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._ready: deque[Subscriber] = deque()  # behind, with room: a page each in turn
        self._scheduled = False
        self._log_queue: deque[Subscriber] = deque()  # behind further than memory
        self._log_reader: asyncio.Task[None] | None = None
        self.refusals = refusals
        self.dropped_slow = 0
        feed.listen(self.publish)

    def __len__(self) -> int:
        return len(self._subscribers)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._beat()), loop.create_task(self._sweep())]

    async def close(self) -> None:
        for task in (*self._tasks, self._log_reader):
            if task is not None:
                task.cancel()
        for sub in list(self._subscribers):
            sub.sink.abort()
            self.unsubscribe(sub)
        self._groups.clear()

    # -- the hot path ---------------------------------------------------------

    def publish(self, batch: Sequence[tuple[Event, bytes]]) -> None:
        """Write a batch of events (one commit's, usually) to every live subscriber it
        matches: the frames are built once per group and each subscriber gets one write.
        A congested subscriber gets nothing and catches up from its cursor instead."""
        if not batch:
            return
        tree = self.tree
        bits = [tree.bit(e.alert.region_id) for e, _ in batch]
        historical = [is_historical(e.issuer) for e, _ in batch]
        before = Seq(batch[0][0].seq - 1)
        whole: dict[tuple[Kind, bool], bytes] = {}
        for group in list(self._groups.values()):
            kind, history, mask = group.kind, group.history, group.mask
            if mask:
                data = b"".join(
                    frame_for(kind, e.seq, e.type.value, raw)
                    for (e, raw), bit, old in zip(batch, bits, historical, strict=True)
                    if mask & bit and (history or not old)
                )
            else:
                key = (kind, history)
                data = whole.get(key, b"")
                if key not in whole:
                    data = whole[key] = b"".join(
                        frame_for(kind, e.seq, e.type.value, raw)
                        for (e, raw), old in zip(batch, historical, strict=True)
                        if history or not old
                    )
            if not data:
                continue
            if len(data) > self.bounds.push_bytes:  # too much to push: each pages through it
                for sub in list(group.members):
                    self._fall_behind(sub, before)
                continue
            lagging: list[Subscriber] | None = None
            for sub in group.members:
                if sub.sink.congested:
                    if lagging is None:
                        lagging = []
                    lagging.append(sub)
                else:
                    sub.write(data)
            for sub in lagging or ():
                self._fall_behind(sub, before)

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
            for sub in group.members:
                if (parts == 1 or (id(sub) >> 4) % parts == part) and not sub.sink.congested:
                    sub.write(beat)

    # -- subscribing ----------------------------------------------------------

    def subscribe(
        self,
        sink: Sink,
        kind: Kind,
        flt: Filter = ALL,
        after: Seq | None = None,
        hello: Callable[[int], bytes] | None = None,
    ) -> Subscriber:
        """Send `hello(seq)` (if given), the events after `after` (if given), then every
        new one. A seq this process has not reached yet is waited for briefly; a seq beyond
        the log gets a `resync` note and the stream from now on."""
        sub = Subscriber(self, sink, kind, flt.history, self._mask(flt.regions))
        self._subscribers.add(sub)
        if after is not None and after > self.feed.announced:
            sub.task = asyncio.get_running_loop().create_task(self._settle(sub, after, hello))
            return sub
        self._start(sub, after, hello)
        return sub

    def _start(
        self, sub: Subscriber, after: Seq | None, hello: Callable[[int], bytes] | None
    ) -> None:
        if hello is not None:
            sub.write(hello(self.feed.announced))
        if after is None or after >= self.feed.announced:
            self._join(sub)
        else:
            sub.cursor = after
            self._want(sub)

    async def _settle(
        self, sub: Subscriber, after: Seq, hello: Callable[[int], bytes] | None
    ) -> None:
        try:
            reached = await self.settle(after)
        finally:
            sub.task = None
        if sub not in self._subscribers:
            return
        if not reached:  # the client saw events this log does not have: it must reload
            note = {"type": "resync", "seq": self.feed.announced, "reason": "seq ahead of the log"}
            sub.write(note_frame(sub.kind, note))
            self._start(sub, None, hello)
        else:
            self._start(sub, after, hello)

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

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub not in self._subscribers:
            return
        self._subscribers.discard(sub)
        self._congested.pop(sub, None)
        self._leave(sub)
        if sub.task is not None:
            sub.task.cancel()
            sub.task = None

    def _mask(self, regions: frozenset[RegionId]) -> int:
        if not regions:
            return 0
        mask = self._masks.get(regions)
        if mask is None:
            if len(self._masks) > 4096:
                self._masks.clear()
            mask = self._masks[regions] = self.tree.related_mask(regions)
        return mask

    def _join(self, sub: Subscriber) -> None:
        key = (sub.kind, sub.history, sub.mask)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(sub.kind, sub.history, sub.mask)
        group.members.add(sub)
        sub.group = group

    def _leave(self, sub: Subscriber) -> None:
        group = sub.group
        if group is None:
            return
        sub.group = None
        group.members.discard(sub)
        if not group.members:
            self._groups.pop((group.kind, group.history, group.mask), None)

    # -- catching up: every subscriber's catch-up shares one slice of each loop turn --

    def _fall_behind(self, sub: Subscriber, cursor: Seq) -> None:
        """A live subscriber that cannot take this batch: from now on it pulls."""
        self._leave(sub)
        sub.cursor = cursor
        if not sub.sink.congested:
            self._want(sub)

    def _want(self, sub: Subscriber) -> None:
        """Queue a subscriber that is behind and has room for its next page."""
        if sub.queued or sub.task is not None:
            return
        sub.queued = True
        self._ready.append(sub)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._work)

    def _work(self) -> None:
        """Pages for the queued subscribers, in turn, for at most `slice_seconds`; then the
        rest of the loop runs (a declare, the live fan-out) before the next slice."""
        self._scheduled = False
        ready = self._ready
        deadline = time.perf_counter() + self.bounds.slice_seconds
        while ready:
            sub = ready.popleft()
            sub.queued = False
            self._pump(sub)
            if time.perf_counter() >= deadline:
                break
        if ready and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._work)

    def _pump(self, sub: Subscriber) -> None:
        """One page of the events this subscriber is behind by, from memory."""
        if sub not in self._subscribers or sub.group is not None or sub.sink.congested:
            return
        feed = self.feed
        if sub.cursor >= feed.announced:
            self._join(sub)
            return
        page = feed.recent_after(sub.cursor, self.bounds.page_events)
        if page is None:  # older than memory: from the log
            self._want_log(sub)
            return
        frames, size, tree, kind = [], 0, self.tree, sub.kind
        for item in page:
            if size >= self.bounds.page_bytes:
                break
            if sub.matches(tree, item.region_id, item.historical):
                frame = frame_for(kind, item.seq, item.type, item.raw)
                frames.append(frame)
                size += len(frame)
            sub.cursor = item.seq
        if frames:
            sub.write(b"".join(frames))
        self._next(sub)

    def _next(self, sub: Subscriber) -> None:
        """After a page: live at the present, queued again while there is room (else
        `drained` queues it), or dropped by the stall rule if it never drains."""
        if sub.sink.congested or sub not in self._subscribers:
            return
        if sub.cursor >= self.feed.announced:
            self._join(sub)
        elif self.feed.recent_after(sub.cursor, 1) is None:
            self._want_log(sub)
        else:
            self._want(sub)

    def _want_log(self, sub: Subscriber) -> None:
        if sub.queued:
            return
        sub.queued = True
        self._log_queue.append(sub)
        if self._log_reader is None:
            self._log_reader = asyncio.get_running_loop().create_task(self._read_log())

    async def _read_log(self) -> None:
        """Events older than memory holds, one page of one subscriber at a time, never
        beyond what this process has announced (memory and the live stream bring the
        rest): a mass catch-up from the log is paced by the log, not piled on the loop."""
        bounds, queue = self.bounds, self._log_queue
        try:
            while queue:
                sub = queue.popleft()
                sub.queued = False
                if sub not in self._subscribers or sub.sink.congested:
                    continue
                raws = await self.store.read_events(sub.cursor, bounds.page_events)
                if sub not in self._subscribers:
                    continue
                frames, size = [], 0
                for raw in raws:
                    data = orjson.loads(raw)
                    seq = Seq(data["seq"])
                    if seq > self.feed.announced or size >= bounds.page_bytes:
                        break  # the rest is read again next time: bounded, not clever
                    region = RegionId(data["alert"]["region_id"])
                    if sub.matches(self.tree, region, is_historical(data["issuer"])):
                        frame = frame_for(sub.kind, seq, data["type"], raw)
                        frames.append(frame)
                        size += len(frame)
                    sub.cursor = seq
                if frames:
                    sub.write(b"".join(frames))
                self._next(sub)
                await asyncio.sleep(0)
        finally:
            self._log_reader = None

    # -- congestion ----------------------------------------------------------------

    def congested(self, sub: Subscriber) -> None:
        if sub in self._subscribers:
            self._congested.setdefault(sub, self.clock())

    def drained(self, sub: Subscriber) -> None:
        self._congested.pop(sub, None)
        if sub in self._subscribers and sub.group is None and sub.task is None:
            self._want(sub)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.bounds.stall_seconds / 4))
            self.sweep()

    def sweep(self) -> None:
        """Abort every subscriber that has been congested for `stall_seconds`: it took
        nothing while bytes waited for it."""
        limit = self.clock() - self.bounds.stall_seconds
        for sub, since in list(self._congested.items()):
            if since <= limit:
                self.drop(sub)

    def drop(self, sub: Subscriber) -> None:
        self.dropped_slow += 1
        if self.refusals is not None:
            self.refusals.note("stalled")
        self.unsubscribe(sub)
        sub.sink.abort()
