"""The fan-out against a real store: old events come from the log, recent ones from memory,
the live ones after them, with nothing lost or doubled at the seams; a subscriber that
falls behind pulls what it missed when it has room; one that takes nothing is dropped,
never silently skipped; no subscriber is given more than a bounded amount at a time."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tests.conftest import KYIV_CITY, LVIV
from tests.support.server import timeout
from tryvoha.data import region_tree
from tryvoha.domain.alerts import Alert, AlertId, AlertLevel, ThreatType
from tryvoha.domain.events import Event, EventType, PendingEvent, Seq
from tryvoha.domain.regions import Level, RegionId
from tryvoha.engine.engine import load_projection
from tryvoha.engine.feed import Feed
from tryvoha.protocol.wire import alert_from_json, decode_event
from tryvoha.server.fanout import ALL, Bounds, Fanout, Filter, Kind, Subscriber
from tryvoha.store import Store, open_store

pytestmark = pytest.mark.anyio
T0 = datetime(2024, 11, 13, tzinfo=UTC)


class ListSink:
    """A socket as the fan-out sees it: congested once more than `room` bytes are unread;
    `read` takes them (as a client would) and says so, as a transport's resume_writing does."""

    def __init__(self, room: int = 1 << 30) -> None:
        self.data = b""
        self.unread = 0
        self.room = room
        self.congested = False
        self.aborted = False
        self.sub: Subscriber | None = None

    def write(self, data: bytes) -> None:
        assert not self.aborted, "written after it was dropped"
        self.data += data
        self.unread += len(data)
        if self.unread > self.room and not self.congested:
            self.congested = True
            if self.sub is not None:
                self.sub.congested()

    def read(self) -> None:
        self.unread = 0
        if self.congested:
            self.congested = False
            if self.sub is not None:
                self.sub.drained()

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.aborted

    def seqs(self) -> list[int]:
        return [
            orjson.loads(line[6:])["seq"]
            for line in self.data.split(b"\n")
            if line.startswith(b"data: ")
        ]


def attach(
    fanout: Fanout,
    sink: ListSink,
    kind: Kind = Kind.SSE,
    flt: Filter = ALL,
    after: int | None = None,
) -> Subscriber:
    sink.sub = fanout.subscribe(sink, kind, flt, None if after is None else Seq(after))
    return sink.sub


async def turns(n: int = 50) -> None:
    """Let the loop run: catch-up pages are written a slice per turn."""
    for _ in range(n):
        await asyncio.sleep(0)


async def until(done: Callable[[], bool], seconds: float = 5) -> None:
    """Let the loop run (and the log's reads finish) until `done()`."""
    deadline = asyncio.get_running_loop().time() + timeout(seconds)
    while not done():
        assert asyncio.get_running_loop().time() < deadline, "not done in time"
        await asyncio.sleep(0.001)


def pairs(n: int, region: RegionId) -> list[PendingEvent]:
    out = []
    for i in range(n):
        at = T0 + timedelta(minutes=i)
        alert = Alert(
            AlertId(f"{region[-4:]}-{i}"),
            region,
            ThreatType.AIR_RAID,
            AlertLevel.RED,
            (),
            None,
            at,
            at,
            None,
            "t",
        )
        out.append(PendingEvent(EventType.DECLARED, at, "t", alert))
        out.append(PendingEvent(EventType.CLEARED, at, "t", replace(alert, ended_at=at)))
    return out


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def setup(store_url: str) -> AsyncIterator[tuple[Store, Fanout]]:
    store = open_store(store_url)
    await store.open()
    await store.append_batch(pairs(10, LVIV) + pairs(10, KYIV_CITY))  # seq 1..40
    feed = Feed(await load_projection(store), recent=5)
    for raw in await store.read_events(Seq(35), 100):
        feed.remember(decode_event(raw), raw)

    async def catch_up() -> int:
        return feed.ingest_raw(await store.read_events(feed.seq, 1000))

    yield store, Fanout(feed, region_tree(), store, catch_up, Bounds(page_events=3), CLOCK)
    await store.close()


CLOCK = Clock()


def _alert(raw: bytes) -> Alert:
    return alert_from_json(orjson.loads(raw)["alert"])


OBLASTS = [r.id for r in region_tree().at_level(Level.OBLAST)]


async def live_event(fanout: Fanout, seq: int, issuer: str = "t") -> None:
    """A declare on an oblast of its own (none of them is active in the log)."""
    template = _alert((await fanout.store.read_events(Seq(0), 1))[0])
    alert = replace(template, id=AlertId(f"n{seq}"), region_id=OBLASTS[seq % len(OBLASTS)])
    event = Event(Seq(seq), EventType.DECLARED, T0, issuer, alert)
    fanout.feed.ingest([(event, b'{"seq":%d}' % seq)])


async def test_resume_reads_the_log_then_memory_then_live(
    setup: tuple[Store, Fanout],
) -> None:
    _, fanout = setup
    sink = ListSink()
    attach(fanout, sink, after=3)  # memory holds only 36..40
    await until(lambda: len(sink.seqs()) >= 37)
    assert sink.seqs() == list(range(4, 41))
    await live_event(fanout, 41)
    await turns(2)  # announced on the next turn of the loop
    assert sink.seqs() == list(range(4, 42))


async def test_a_region_filter_applies_to_old_and_new_events(
    setup: tuple[Store, Fanout],
) -> None:
    _, fanout = setup
    sink = ListSink()
    attach(fanout, sink, flt=Filter(frozenset({KYIV_CITY})), after=0)
    await until(lambda: fanout._subscribers and next(iter(fanout._subscribers)).group is not None)
    assert sink.seqs() == list(range(21, 41))


async def test_a_subscriber_that_falls_behind_pulls_what_it_missed_when_it_has_room(
    setup: tuple[Store, Fanout],
) -> None:
    """Congested live subscribers get nothing pushed; once they drain, they page through
    what they missed, then are live again: every event once, in order."""
    _, fanout = setup
    healthy, slow = ListSink(), ListSink(room=10)
    attach(fanout, healthy, after=40)
    attach(fanout, slow, after=40)
    for seq in range(41, 45):
        await live_event(fanout, seq)
        await turns(2)
    assert healthy.seqs() == [41, 42, 43, 44]
    assert slow.seqs() == [41]  # pushed once; congested since
    slow.room = 1 << 30
    slow.read()
    await turns()
    assert slow.seqs() == [41, 42, 43, 44]
    await live_event(fanout, 45)
    await turns(2)
    assert slow.seqs() == healthy.seqs() == [41, 42, 43, 44, 45]


async def test_a_subscriber_that_takes_nothing_is_dropped_after_the_stall_time(
    setup: tuple[Store, Fanout],
) -> None:
    _, fanout = setup
    stuck, fine = ListSink(room=10), ListSink()
    attach(fanout, stuck, after=0)
    attach(fanout, fine)
    await until(lambda: stuck.congested)
    assert not stuck.aborted
    CLOCK.now += fanout.bounds.stall_seconds - 0.1
    fanout.sweep()
    assert not stuck.aborted
    CLOCK.now += 0.2
    fanout.sweep()
    assert stuck.aborted and not fine.aborted and fanout.dropped_slow == 1 and len(fanout) == 1


async def test_a_catch_up_is_paged_and_leaves_the_loop_to_others(
    setup: tuple[Store, Fanout],
) -> None:
    """Each turn of the loop gives catch-up work one slice: between two pages, anything
    else that is ready runs (a declare's answer, the live fan-out)."""
    _, fanout = setup
    fanout.bounds = Bounds(page_events=3, page_bytes=1, slice_seconds=0)  # one page per turn
    sink = ListSink()
    attach(fanout, sink, after=0)
    seen: list[int] = []
    for _ in range(6):
        seen.append(len(sink.seqs()))
        await asyncio.sleep(0)
    assert seen[0] == 0 and all(b - a <= 3 for a, b in itertools.pairwise(seen))
    assert seen[-1] < 40  # not done in one go
    await until(lambda: len(sink.seqs()) >= 40)
    assert sink.seqs() == list(range(1, 41))


async def test_a_batch_too_large_to_push_is_paged(setup: tuple[Store, Fanout]) -> None:
    _, fanout = setup
    fanout.bounds = Bounds(page_events=3, push_bytes=10)
    sink = ListSink()
    attach(fanout, sink, after=40)
    await live_event(fanout, 41)
    await turns()
    assert sink.seqs() == [41]


async def test_heartbeats_keep_every_stream_talking(setup: tuple[Store, Fanout]) -> None:
    _, fanout = setup
    sse, chunked, ws, stuck = ListSink(), ListSink(), ListSink(), ListSink()
    attach(fanout, sse, Kind.SSE)
    attach(fanout, chunked, Kind.SSE_CHUNKED, Filter(frozenset({LVIV})))
    attach(fanout, ws, Kind.WS)
    attach(fanout, stuck, Kind.WS)
    stuck.congested = True
    fanout.heartbeat()
    assert sse.data == b": keep-alive\n\n"
    assert chunked.data == b"e\r\n: keep-alive\n\n\r\n"
    assert ws.data == b"\x89\x00"
    assert stuck.data == b""  # nothing more for a congested socket


async def test_imported_history_stays_out_of_live_streams_unless_asked(
    setup: tuple[Store, Fanout],
) -> None:
    _, fanout = setup
    plain, historian = ListSink(), ListSink()
    attach(fanout, plain, after=40)
    attach(fanout, historian, flt=Filter(history=True), after=40)
    template = _alert((await fanout.store.read_events(Seq(0), 1))[0])
    imported = Event(
        Seq(41), EventType.DECLARED, T0, "history:official", replace(template, id=AlertId("h"))
    )
    cleared = Event(
        Seq(42),
        EventType.CLEARED,
        T0,
        "history:official",
        replace(template, id=AlertId("h"), ended_at=T0),
    )
    fanout.feed.ingest([(imported, b'{"seq":41}'), (cleared, b'{"seq":42}')])
    await turns(2)
    assert plain.seqs() == [] and historian.seqs() == [41, 42]
    late = ListSink()  # resuming from memory applies the same rule
    attach(fanout, late, after=39)
    await turns()
    assert late.seqs() == [40]


async def test_a_seq_another_process_gave_is_waited_for_not_resynced(
    setup: tuple[Store, Fanout],
) -> None:
    """A subscriber saw seq 42 on one serving process and reconnects to this one, which
    has only reached 40: it waits for the log, then resumes; no resync, nothing twice."""
    store, fanout = setup
    await store.append_batch(pairs(1, LVIV))  # 41, 42: in the log, not yet in this feed
    assert fanout.feed.seq == 40
    sink = ListSink()
    attach(fanout, sink, after=42)
    await until(lambda: fanout.feed.seq == 42)  # the bus is silent here: read from the log
    await turns()
    assert sink.data == b"" and fanout.feed.seq == 42 and len(fanout) == 1
    ahead = ListSink()  # truly ahead of the log: told to resync, then live
    attach(fanout, ahead, after=99)
    await until(lambda: bool(ahead.data))
    assert ahead.data.startswith(b"event: resync\ndata: ")
    assert orjson.loads(ahead.data.split(b"data: ")[1]) == {
        "seq": 42,
        "reason": "seq ahead of the log",
    }


async def test_empty_groups_are_dropped_and_equal_filters_share_one(
    setup: tuple[Store, Fanout],
) -> None:
    _, fanout = setup
    sinks = [ListSink() for _ in range(3)]
    subs = [
        attach(fanout, sink, flt=Filter(frozenset({region})))
        for sink, region in zip(sinks, (LVIV, KYIV_CITY, LVIV), strict=True)
    ]
    assert len(fanout._groups) == 2 and len(fanout) == 3
    for sub in subs:
        sub.close()
    assert fanout._groups == {} and len(fanout) == 0


async def test_json_subscribers_get_one_line_per_event(setup: tuple[Store, Fanout]) -> None:
    _, fanout = setup
    sink = ListSink()
    attach(fanout, sink, Kind.JSON, after=38)
    await turns()
    lines = sink.data.splitlines()
    assert [orjson.loads(line)["seq"] for line in lines] == [39, 40]


async def test_a_subscriber_joining_before_an_announcement_gets_each_event_once(
    setup: tuple[Store, Fanout],
) -> None:
    """Applied but not yet announced: a joiner from memory must not see the new event in
    its catch-up and then again in the announcement."""
    _, fanout = setup
    template = _alert((await fanout.store.read_events(Seq(0), 1))[0])
    event = Event(Seq(41), EventType.DECLARED, T0, "t", replace(template, id=AlertId("n")))
    fanout.feed.ingest([(event, b'{"seq":41}')])
    early = ListSink()
    attach(fanout, early, after=39)
    await turns()
    assert early.seqs() == [40, 41]


async def test_heartbeat_slices_cover_every_subscriber_once(
    setup: tuple[Store, Fanout],
) -> None:
    _, fanout = setup
    sinks = [ListSink() for _ in range(100)]
    for sink in sinks:
        attach(fanout, sink)
    for part in range(15):
        fanout.heartbeat(part, 15)
    assert all(sink.data == b": keep-alive\n\n" for sink in sinks)
