"""The fan-out against a real store: old events come from the log, recent ones from memory,
the live ones after them, with nothing lost or doubled at the seams; a subscriber that
cannot keep up is dropped, never silently skipped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.conftest import KYIV_CITY, LVIV
from tryvoha.data import region_tree
from tryvoha.domain.alerts import Alert, AlertId, AlertLevel, ThreatType
from tryvoha.domain.events import Event, EventType, PendingEvent, Seq
from tryvoha.domain.regions import RegionId
from tryvoha.engine.engine import load_projection
from tryvoha.engine.feed import Feed
from tryvoha.protocol.wire import alert_from_json, decode_event
from tryvoha.server.fanout import SLOW_BYTES, Fanout, Filter, Kind
from tryvoha.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio
T0 = datetime(2024, 11, 13, tzinfo=UTC)


class ListSink:
    def __init__(self, backlog: int = 0) -> None:
        self.data = b""
        self.backlog = backlog
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def get_write_buffer_size(self) -> int:
        return self.backlog

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def seqs(self) -> list[int]:
        return [
            orjson.loads(line[6:])["seq"]
            for line in self.data.split(b"\n")
            if line.startswith(b"data: ")
        ]


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


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, Fanout]]:
    store = SqliteStore(f"sqlite:///{tmp_path / 'f.db'}")
    await store.open()
    await store.append_batch(pairs(10, LVIV) + pairs(10, KYIV_CITY))  # seq 1..40
    feed = Feed(await load_projection(store), recent=5)
    for raw in await store.read_events(Seq(35), 100):
        feed.remember(decode_event(raw), raw)

    async def catch_up() -> int:
        return feed.ingest_raw(await store.read_events(feed.seq, 1000))

    yield store, Fanout(feed, region_tree(), store, catch_up)
    await store.close()


async def test_resume_reads_the_log_then_memory_then_live(
    setup: tuple[SqliteStore, Fanout],
) -> None:
    store, fanout = setup
    sink = ListSink()
    assert not fanout.join(sink, Kind.SSE, after=Seq(3))  # memory holds only 36..40
    await fanout.subscribe(sink, Kind.SSE, after=Seq(3))
    assert sink.seqs() == list(range(4, 41))
    raws = await store.read_events(Seq(0), 100)
    live = [
        (
            Event(
                Seq(41), EventType.DECLARED, T0, "t", replace(_alert(raws[0]), id=AlertId("new"))
            ),
            b'{"seq":41}',
        )
    ]
    fanout.feed.ingest(live)
    await asyncio.sleep(0)  # announced on the next turn of the loop
    assert sink.seqs() == list(range(4, 42))


async def test_a_region_filter_applies_to_old_and_new_events(
    setup: tuple[SqliteStore, Fanout],
) -> None:
    _, fanout = setup
    sink = ListSink()
    await fanout.subscribe(sink, Kind.SSE, Filter(frozenset({KYIV_CITY})), after=Seq(0))
    assert sink.seqs() == list(range(21, 41))


async def test_a_subscriber_that_cannot_keep_up_is_dropped(
    setup: tuple[SqliteStore, Fanout],
) -> None:
    _, fanout = setup
    healthy, stuck = ListSink(), ListSink(backlog=SLOW_BYTES + 1)
    assert fanout.join(healthy, Kind.SSE_CHUNKED) and fanout.join(stuck, Kind.SSE_CHUNKED)
    store_raws = await fanout.store.read_events(Seq(0), 1)
    event = Event(
        Seq(41), EventType.DECLARED, T0, "t", replace(_alert(store_raws[0]), id=AlertId("x"))
    )
    fanout.feed.ingest([(event, b'{"seq":41}')])
    await asyncio.sleep(0)
    assert stuck.closed and not healthy.closed and fanout.dropped_slow == 1
    assert len(fanout) == 1
    assert healthy.data.startswith(
        b"%x\r\nid: 41\n" % len(b'id: 41\nevent: alert.declared\ndata: {"seq":41}\n\n')
    )


def _alert(raw: bytes) -> Alert:
    return alert_from_json(orjson.loads(raw)["alert"])


async def test_heartbeats_keep_every_stream_talking(setup: tuple[SqliteStore, Fanout]) -> None:
    _, fanout = setup
    sse, chunked, ws = ListSink(), ListSink(), ListSink()
    fanout.join(sse, Kind.SSE)
    fanout.join(chunked, Kind.SSE_CHUNKED, Filter(frozenset({LVIV})))
    fanout.join(ws, Kind.WS)
    fanout.heartbeat()
    assert sse.data == b": keep-alive\n\n"
    assert chunked.data == b"e\r\n: keep-alive\n\n\r\n"
    assert ws.data == b"\x89\x00"


async def test_imported_history_stays_out_of_live_streams_unless_asked(
    setup: tuple[SqliteStore, Fanout],
) -> None:
    _, fanout = setup
    plain, historian = ListSink(), ListSink()
    fanout.join(plain, Kind.SSE, after=Seq(40))
    fanout.join(historian, Kind.SSE, Filter(history=True), after=Seq(40))
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
    await asyncio.sleep(0)
    assert plain.seqs() == [] and historian.seqs() == [41, 42]
    late = ListSink()  # resuming from memory applies the same rule
    fanout.join(late, Kind.SSE, after=Seq(39))
    assert late.seqs() == [40]


async def test_a_seq_another_process_gave_is_waited_for_not_resynced(
    setup: tuple[SqliteStore, Fanout],
) -> None:
    """A subscriber saw seq 42 on one serving process and reconnects to this one, which
    has only reached 40: it waits for the log, then resumes; no resync, nothing twice."""
    store, fanout = setup
    await store.append_batch(pairs(1, LVIV))  # 41, 42: in the log, not yet in this feed
    assert fanout.feed.seq == 40
    assert await fanout.settle(Seq(42))
    sink = ListSink()
    await fanout.subscribe(sink, Kind.SSE, after=Seq(42))
    assert sink.data == b"" and fanout.feed.seq == 42
    assert not await fanout.settle(Seq(99))  # truly ahead of the log: resync


async def test_empty_groups_are_dropped(setup: tuple[SqliteStore, Fanout]) -> None:
    _, fanout = setup
    sinks = [ListSink() for _ in range(3)]
    for sink, region in zip(sinks, (LVIV, KYIV_CITY, LVIV), strict=True):
        fanout.join(sink, Kind.SSE, Filter(frozenset({region})))
    assert len(fanout._groups) == 2 and len(fanout) == 3
    for sink in sinks:
        fanout.unsubscribe(sink)
    assert fanout._groups == {} and len(fanout) == 0


async def test_json_subscribers_get_one_line_per_event(setup: tuple[SqliteStore, Fanout]) -> None:
    _, fanout = setup
    sink = ListSink()
    fanout.join(sink, Kind.JSON, after=Seq(38))
    lines = sink.data.splitlines()
    assert [orjson.loads(line)["seq"] for line in lines] == [39, 40]


async def test_a_subscriber_joining_before_an_announcement_gets_each_event_once(
    setup: tuple[SqliteStore, Fanout],
) -> None:
    """Applied but not yet announced: a joiner from memory must not see the new event in
    its catch-up and then again in the announcement."""
    _, fanout = setup
    template = _alert((await fanout.store.read_events(Seq(0), 1))[0])
    event = Event(Seq(41), EventType.DECLARED, T0, "t", replace(template, id=AlertId("n")))
    fanout.feed.ingest([(event, b'{"seq":41}')])
    early = ListSink()
    assert fanout.join(early, Kind.SSE, after=Seq(39))
    await asyncio.sleep(0)
    assert early.seqs() == [40, 41]


async def test_heartbeat_slices_cover_every_subscriber_once(
    setup: tuple[SqliteStore, Fanout],
) -> None:
    _, fanout = setup
    sinks = [ListSink() for _ in range(100)]
    for sink in sinks:
        fanout.join(sink, Kind.SSE)
    for part in range(15):
        fanout.heartbeat(part, 15)
    assert all(sink.data == b": keep-alive\n\n" for sink in sinks)
