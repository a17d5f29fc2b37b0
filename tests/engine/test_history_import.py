"""Importing the record into a real SQLite log: original times, replayable beside live
alerts, idempotent, race-free against live writes, and never two sources for one time."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tests.conftest import KHARKIV, KYIV_CITY, LVIV
from tests.support.log import read_log, replay
from tryvoha.data import region_tree
from tryvoha.domain.alerts import AlertId
from tryvoha.domain.commands import ClearAlert, Declare
from tryvoha.domain.history import Source
from tryvoha.domain.regions import RegionTree
from tryvoha.domain.scope import Principal, Role
from tryvoha.domain.stats import By, region_stats
from tryvoha.engine.auth import issue_token
from tryvoha.engine.engine import Engine, load_projection
from tryvoha.engine.history import plan_for, plan_shipped, shipped_record, write_plan
from tryvoha.engine.statistics import Period, stats_for
from tryvoha.protocol.history_csv import ParsedHistory, PlaceNames, read_history
from tryvoha.store import Store, open_store
from tryvoha.store.base import AuditQuery

pytestmark = pytest.mark.anyio
OFFICIAL = "oblast,raion,hromada,level,started_at,finished_at,source\n"
CONSOLIDATED = "region,started_at,finished_at,n_subalerts,duration_minutes\n"
DUTY = Principal("duty", Role.ISSUER, (LVIV, KYIV_CITY, KHARKIV))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url)
    await s.open()
    await issue_token(s, region_tree(), DUTY.name, DUTY.role, list(DUTY.scope))
    yield s
    await s.close()


def parse(tree: RegionTree, text: str) -> list[ParsedHistory]:
    return [read_history(text.splitlines(keepends=True), PlaceNames(tree))]


def row(oblast: str, start: str, end: str, raion: str = "", hromada: str = "") -> str:
    level = "hromada" if hromada else "raion" if raion else "oblast"
    return f"{oblast},{raion},{hromada},{level},2024-01-0{start}:00+00:00,2024-01-0{end}:00+00:00,official\n"


SLICE = OFFICIAL + (
    row("Lvivska oblast", "1 10:00", "1 11:00")
    + row("Lvivska oblast", "1 10:30", "1 12:00")  # overlaps: one alert 10:00-12:00
    + row("Kyiv City", "1 10:05", "1 10:45")
    + row("Lvivska oblast", "1 12:00", "1 12:30")  # touches: its own alert
    + row("Kharkivska oblast", "2 01:00", "2 03:00", "Krasnohradskyi raion")  # renamed
    + row("Narnia", "2 01:00", "2 03:00")  # rejected, not imported
)


async def test_the_record_becomes_declared_then_cleared_events_once(
    store: Store, store_url: str, tree: RegionTree
) -> None:
    plan = await plan_for(store, parse(tree, SLICE))
    assert plan.merged_rows == 1 and len(plan.alerts) == 4
    report = await write_plan(store, tree, plan)
    assert (report.written, report.events, report.already) == (4, 8, 0)
    assert (report.first_seq, report.last_seq) == (1, 8)

    events = [orjson.loads(raw) for raw in read_log(store_url)]
    assert [e["type"] for e in events] == ["alert.declared", "alert.cleared"] * 4
    assert [e["at"] for e in events[:2]] == ["2024-01-01T10:00:00.000Z", "2024-01-01T12:00:00.000Z"]
    assert {e["issuer"] for e in events} == {"history:official"}
    assert [e["alert"]["region_id"] for e in events[::2]] == [
        LVIV,
        KYIV_CITY,
        LVIV,
        "UA63060000000053698",  # Berestynskyi raion, Krasnohradskyi until 2024
    ]
    assert all(events[i]["alert"]["id"] == events[i + 1]["alert"]["id"] for i in range(0, 8, 2))
    assert replay(read_log(store_url)) == []  # replays from scratch, nothing left active
    audit = await store.read_audit(AuditQuery("cli", limit=10))
    assert [(a.action, a.detail) for a in audit if a.action == "history.import"] == [
        ("history.import", "seq 1-8: 4 history:official alerts")
    ]

    again = await write_plan(store, tree, await plan_for(store, parse(tree, SLICE)))
    assert (again.written, again.already) == (0, 4)
    assert len(read_log(store_url)) == 8


async def test_a_region_under_a_live_alert_is_held_back_until_it_is_cleared(
    store: Store, store_url: str, tree: RegionTree
) -> None:
    engine = await Engine.load(store, tree)
    live = await engine.execute(Declare((LVIV,)), DUTY)
    live_id = orjson.loads(live.body)["alerts"][0]["id"]

    report = await write_plan(store, tree, await plan_for(store, parse(tree, SLICE)))
    assert report.written == 2  # Kyiv and Kharkiv
    assert sorted({a.region_id for a in report.held_back}) == [LVIV]
    assert [a["id"] for a in replay(read_log(store_url))] == [live_id]
    assert [a.id for a in (await load_projection(store)).active()] == [live_id]

    await engine.catch_up()
    await engine.execute(ClearAlert(AlertId(live_id)), DUTY)
    later = await write_plan(store, tree, await plan_for(store, parse(tree, SLICE)))
    assert (later.written, later.already, later.held_back) == (2, 2, [])
    assert replay(read_log(store_url)) == []


async def test_a_live_declare_committed_during_the_import_is_seen_before_writing(
    store: Store, store_url: str, tree: RegionTree
) -> None:
    plan = await plan_for(store, parse(tree, SLICE))
    declared: list[str] = []

    def live_declare() -> None:  # another process, its own store connection and engine
        async def run() -> None:
            other = open_store(store_url)
            await other.open()
            try:
                engine = await Engine.load(other, tree)
                answer = await engine.execute(Declare((LVIV,)), DUTY)
                declared.append(orjson.loads(answer.body)["alerts"][0]["id"])
            finally:
                await other.close()

        thread = threading.Thread(target=lambda: asyncio.run(run()))
        thread.start()
        thread.join()

    calls = 0

    def progress(n: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:  # after the first chunk (Lviv 10:00) and before the second
            live_declare()

    report = await write_plan(store, tree, plan, progress=progress, chunk=1)
    assert report.written == 3 and [a.region_id for a in report.held_back] == [LVIV]
    assert [a["id"] for a in replay(read_log(store_url))] == declared


async def test_an_official_file_fills_only_time_the_consolidated_record_does_not_cover(
    store: Store, tree: RegionTree
) -> None:
    consolidated = CONSOLIDATED + (
        "Lvivska oblast,2024-01-02 10:00:00+00:00,2024-01-02 11:00:00+00:00,3,60\n"
        "Lvivska oblast,2024-01-05 10:00:00+00:00,2024-01-05 11:00:00+00:00,1,60\n"
    )
    first = await write_plan(store, tree, await plan_for(store, parse(tree, consolidated)))
    assert first.written == 2
    newer = OFFICIAL + (
        row("Lvivska oblast", "1 10:00", "1 11:00")  # before: fills a gap
        + row("Kyiv City", "3 10:00", "3 11:00")  # inside the consolidated span: left out
        + row("Kyiv City", "6 10:00", "6 11:00")  # after: brings the record up to date
    )
    plan = await plan_for(store, parse(tree, newer))
    assert [(a.region_id, a.started_at.day) for a in plan.alerts] == [(LVIV, 1), (KYIV_CITY, 6)]
    assert [left.reason for left in plan.left_out] == [
        "the store holds the consolidated record for this time "
        "(2024-01-02 10:00:00 UTC to 2024-01-05 11:00:00 UTC)"
    ]
    assert (await write_plan(store, tree, plan)).written == 2
    assert (await store.alert_span(Source.OFFICIAL.issuer)) == (
        datetime(2024, 1, 1, 10, tzinfo=UTC),
        datetime(2024, 1, 6, 11, tzinfo=UTC),
    )


@pytest.mark.slow
async def test_the_whole_shipped_record_imports_once_and_its_stats_come_back_from_the_store(
    store: Store, store_url: str, tree: RegionTree
) -> None:
    parsed = shipped_record(PlaceNames(tree))
    plan = await plan_for(store, parsed)
    assert plan == plan_shipped(tree)
    assert len(plan.alerts) == 80_887
    assert plan.cutover == datetime(2024, 4, 21, 15, 4, 37, tzinfo=UTC)
    report = await write_plan(store, tree, plan)
    assert (report.written, report.events) == (80_887, 161_774)
    assert len(await load_projection(store)) == 0

    since, until = datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    nikopol = PlaceNames(tree).region_for(
        "hromada", "Dnipropetrovska oblast", "Nikopolskyi raion", "m. Nikopol ta Nikopolska"
    )
    from zoneinfo import ZoneInfo

    period = Period(since, until, now, ZoneInfo("Europe/Kyiv"))
    from_store = await stats_for(store, tree, nikopol, period, By.MONTH)
    spans = [(a.region_id, a.started_at, a.ended_at) for a in plan.alerts]
    pure = region_stats(tree, nikopol, spans, since, until, now=now, by=By.MONTH, tz=period.tz)
    assert from_store == pure and pure.count > 100

    again = await write_plan(store, tree, await plan_for(store, parsed))
    assert (again.written, again.already) == (0, 80_887)
    assert again.seconds < report.seconds / 3
    assert timedelta(seconds=report.seconds) < timedelta(minutes=2)


async def test_a_period_that_began_just_before_since_is_not_counted_from_the_store(
    store: Store, tree: RegionTree
) -> None:
    # Lviv hromada 09:00-10:00 touches its oblast's 10:00-11:00: one period from 09:00
    text = OFFICIAL + (
        row(
            "Lvivska oblast", "1 09:00", "1 10:00", "Lvivskyi raion", "Lvivska terytorialna hromada"
        )
        + row("Lvivska oblast", "1 10:00", "1 11:00")
    )
    await write_plan(store, tree, await plan_for(store, parse(tree, text)))
    hromada = PlaceNames(tree).region_for(
        "hromada", "Lvivska oblast", "Lvivskyi raion", "Lvivska terytorialna hromada"
    )
    since = datetime(2024, 1, 1, 10, tzinfo=UTC)
    period = Period(since, since + timedelta(hours=5), since + timedelta(days=9), UTC)
    got = await stats_for(store, tree, hromada, period, None)
    assert (got.count, got.total_seconds) == (0, 3600)  # it began at 09:00, before since
    earlier = Period(since - timedelta(hours=2), since, since + timedelta(days=9), UTC)
    assert (await stats_for(store, tree, hromada, earlier, None)).count == 1
