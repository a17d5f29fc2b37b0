"""Statistics, pure: the definitions on small cases worked by hand, Kyiv's DST days, and a
property test against a brute-force minute-by-minute count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import KHARKIV, KYIV_CITY, LVIV
from tryvoha.domain.regions import COUNTRY, RegionId, RegionTree
from tryvoha.domain.stats import (
    By,
    alert_periods,
    bucket_key,
    buckets,
    episodes,
    merge,
    next_boundary,
    oblast_periods,
    region_stats,
    segments,
    stats_of,
    summaries,
)

KYIV = ZoneInfo("Europe/Kyiv")
H = timedelta(hours=1)
M = timedelta(minutes=1)
T0 = datetime(2024, 11, 13, tzinfo=UTC)
LVIV_RAION = RegionId("UA46060000000042587")  # Lvivskyi raion
LVIV_HROMADA = RegionId("UA46060250000025047")  # Lvivska hromada, in that raion
SAMBIR_RAION = RegionId("UA46080000000023056")  # another raion of the Lviv oblast
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_merge_joins_overlapping_and_touching_and_drops_empty() -> None:
    got = merge([(T0 + 2 * H, T0 + 3 * H), (T0, T0 + H), (T0 + H, T0 + 90 * M), (T0, T0)])
    assert got == [(T0, T0 + 90 * M), (T0 + 2 * H, T0 + 3 * H)]
    assert merge([(T0, T0 + 3 * H), (T0 + H, T0 + 2 * H)]) == [(T0, T0 + 3 * H)]


def test_an_alert_above_counts_below_and_never_the_other_way(tree: RegionTree) -> None:
    alerts = [
        (LVIV, T0, T0 + H),  # the oblast: the hromada is under alert too
        (LVIV_HROMADA, T0 + 30 * M, T0 + 2 * H),  # overlaps: one period for the hromada
        (SAMBIR_RAION, T0 + 5 * H, T0 + 6 * H),  # a sibling raion: not the hromada's
        (LVIV_RAION, T0 + 2 * H, T0 + 3 * H),  # touches the hromada's alert: joined
    ]
    assert alert_periods(tree, LVIV_HROMADA, alerts, now=NOW) == [(T0, T0 + 3 * H)]
    assert alert_periods(tree, LVIV_RAION, alerts, now=NOW) == [
        (T0, T0 + H),
        (T0 + 2 * H, T0 + 3 * H),
    ]
    assert alert_periods(tree, LVIV, alerts, now=NOW) == [(T0, T0 + H)]
    hromada = region_stats(tree, LVIV_HROMADA, alerts, T0, T0 + 24 * H, now=NOW)
    assert (hromada.count, hromada.total_seconds, hromada.longest_seconds) == (
        1,
        3 * 3600,
        3 * 3600,
    )
    assert hromada.share == pytest.approx(3 / 24)
    country = [(COUNTRY, T0 + 10 * H, T0 + 11 * H)]
    assert region_stats(tree, LVIV_HROMADA, country, T0, T0 + 24 * H, now=NOW).count == 1


def test_count_is_periods_that_began_inside_seconds_are_clipped(tree: RegionTree) -> None:
    alerts = [
        (LVIV, T0 - 2 * H, T0 + H),  # began before since: its last hour counts, not the alert
        (LVIV, T0 + 5 * H, T0 + 7 * H),
        (LVIV, T0 + 23 * H, T0 + 30 * H),  # runs past until: counted, clipped
    ]
    got = region_stats(tree, LVIV, alerts, T0, T0 + 24 * H, now=NOW)
    assert got.count == 2
    assert got.total_seconds == (1 + 2 + 1) * 3600
    assert got.longest_seconds == 2 * 3600  # the longest unbroken time inside the period


def test_an_active_alert_runs_to_now_and_until_stops_at_now(tree: RegionTree) -> None:
    now = T0 + 10 * H
    got = region_stats(tree, KYIV_CITY, [(KYIV_CITY, T0 + 8 * H, None)], T0, T0 + 48 * H, now=now)
    assert got.until == now
    assert (got.count, got.total_seconds) == (1, 2 * 3600)
    assert got.share == pytest.approx(0.2)


def test_an_alert_across_midnight_adds_to_both_days_and_counts_where_it_began(
    tree: RegionTree,
) -> None:
    # 23:30 to 00:30 Kyiv time (UTC+2 in November)
    alerts = [
        (
            KYIV_CITY,
            datetime(2024, 11, 12, 21, 30, tzinfo=UTC),
            datetime(2024, 11, 12, 22, 30, tzinfo=UTC),
        )
    ]
    since = datetime(2024, 11, 12, tzinfo=KYIV)
    got = region_stats(tree, KYIV_CITY, alerts, since, since + 48 * H, now=NOW, by=By.DAY, tz=KYIV)
    assert [(b.key, b.count, b.seconds) for b in got.series] == [
        ("2024-11-12", 1, 1800.0),
        ("2024-11-13", 0, 1800.0),
    ]
    utc = region_stats(tree, KYIV_CITY, alerts, since, since + 48 * H, now=NOW, by=By.DAY, tz=UTC)
    assert [(b.key, b.count, b.seconds) for b in utc.series] == [
        ("2024-11-11", 0, 0.0),  # the Kyiv midnight is 22:00 UTC the day before
        ("2024-11-12", 1, 3600.0),
        ("2024-11-13", 0, 0.0),
    ]
    hours = region_stats(
        tree, KYIV_CITY, alerts, since, since + 48 * H, now=NOW, by=By.HOUR, tz=KYIV
    )
    assert {b.key: b.seconds for b in hours.series if b.seconds} == {"23": 1800.0, "00": 1800.0}
    assert [b.key for b in hours.series] == [f"{h:02d}" for h in range(24)]
    assert hours.series[0].period_seconds == 2 * 3600  # two midnights in the period


def test_dst_days_have_23_and_25_hours_in_kyiv() -> None:
    # Kyiv: 2024-03-31 03:00 -> 04:00 (spring), 2024-10-27 04:00 -> 03:00 (autumn)
    spring = datetime(2024, 3, 31, tzinfo=KYIV).astimezone(UTC)  # elapsed-time arithmetic
    autumn = datetime(2024, 10, 27, tzinfo=KYIV).astimezone(UTC)
    days = buckets([], spring, spring + 47 * H, By.DAY, KYIV)
    assert [(b.key, b.period_seconds) for b in days] == [
        ("2024-03-31", 23 * 3600),
        ("2024-04-01", 24 * 3600),
    ]
    hours = {b.key: b.period_seconds for b in buckets([], spring, spring + 23 * H, By.HOUR, KYIV)}
    assert hours["03"] == 0 and hours["02"] == hours["04"] == 3600
    # an alert over the repeated hour: 03:30 EEST to 03:30 EET is one hour, all of it "03"
    repeated = [
        (datetime(2024, 10, 27, 0, 30, tzinfo=UTC), datetime(2024, 10, 27, 1, 30, tzinfo=UTC))
    ]
    got = {
        b.key: (b.seconds, b.period_seconds)
        for b in buckets(repeated, autumn, autumn + 25 * H, By.HOUR, KYIV)
    }
    assert got["03"] == (3600.0, 7200.0)
    day = buckets(repeated, autumn, datetime(2024, 10, 28, tzinfo=KYIV), By.DAY, KYIV)
    assert [(b.key, b.count, b.period_seconds) for b in day] == [("2024-10-27", 1, 25 * 3600)]


def test_months_and_weekdays() -> None:
    since = datetime(2024, 1, 31, 12, tzinfo=KYIV)  # a Wednesday, noon
    periods = [(datetime(2024, 1, 31, 21, tzinfo=UTC), datetime(2024, 2, 1, 1, tzinfo=UTC))]
    months = buckets(periods, since, datetime(2024, 3, 1, tzinfo=KYIV), By.MONTH, KYIV)
    assert [(b.key, b.count, b.seconds) for b in months] == [
        ("2024-01", 1, 3600.0),  # 23:00-24:00 Kyiv
        ("2024-02", 0, 3 * 3600.0),
    ]
    assert months[1].period_seconds == 29 * 24 * 3600  # a leap year
    days = buckets(periods, since, since + 7 * 24 * H, By.WEEKDAY, KYIV)
    assert [b.key for b in days][:3] == ["monday", "tuesday", "wednesday"]
    got = {b.key: (b.count, b.seconds) for b in days}
    assert got["wednesday"] == (1, 3600.0) and got["thursday"] == (0, 3 * 3600.0)
    assert sum(b.period_seconds for b in days) == 7 * 24 * 3600


def test_summaries_match_one_region_at_a_time(tree: RegionTree) -> None:
    alerts = [
        (LVIV, T0, T0 + H),
        (COUNTRY, T0 + 30 * M, T0 + 2 * H),
        (KYIV_CITY, T0 + 5 * H, T0 + 6 * H),
    ]
    end = T0 + 24 * H
    many = summaries(tree, [LVIV, KYIV_CITY, KHARKIV], alerts, T0, end, now=NOW)
    for got in many:
        assert got == region_stats(tree, got.region_id, alerts, T0, end, now=NOW)
    assert [s.total_seconds for s in many] == [2 * 3600, (90 + 60) * 60, 90 * 60]


def test_episodes_need_n_oblasts_at_once(tree: RegionTree) -> None:
    alerts = [
        (LVIV, T0, T0 + 2 * H),
        (KYIV_CITY, T0 + H, T0 + 3 * H),
        (KHARKIV, T0 + 2 * H, T0 + 4 * H),  # begins as Lviv ends: no dip below two
        (LVIV_HROMADA, T0 + 5 * H, T0 + 6 * H),  # a hromada: only with partial
        (KHARKIV, T0 + 5 * H, T0 + 6 * H),
    ]
    found = episodes(oblast_periods(tree, alerts, now=NOW), T0, T0 + 24 * H, min_oblasts=2)
    assert [(e.started_at, e.ended_at, e.peak) for e in found] == [(T0 + H, T0 + 3 * H, 2)]
    assert set(found[0].oblasts) == {LVIV, KYIV_CITY, KHARKIV}
    partial = oblast_periods(tree, alerts, now=NOW, partial=True)
    found = episodes(partial, T0, T0 + 24 * H, min_oblasts=2)
    assert [(e.started_at, e.ended_at) for e in found] == [
        (T0 + H, T0 + 3 * H),
        (T0 + 5 * H, T0 + 6 * H),
    ]
    everyone = oblast_periods(tree, [(COUNTRY, T0, T0 + H)], now=NOW)
    found = episodes(everyone, T0 - H, T0 + 30 * M, min_oblasts=27)
    assert [(e.started_at, e.ended_at, e.peak) for e in found] == [(T0, T0 + 30 * M, 27)]


# -- against brute force -------------------------------------------------------------------

WINDOW = datetime(2024, 3, 29, tzinfo=UTC)  # covers the spring DST change in Kyiv
MINUTES = 5 * 24 * 60

intervals = st.lists(st.tuples(st.integers(0, MINUTES - 1), st.integers(1, 36 * 60)), max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    raw=intervals,
    since=st.integers(0, 2000),
    length=st.integers(1, MINUTES),
    by=st.sampled_from(By),
)
def test_series_agree_with_minute_by_minute_counting(
    raw: list[tuple[int, int]], since: int, length: int, by: By
) -> None:
    periods = merge((WINDOW + s * M, WINDOW + (s + d) * M) for s, d in raw)
    start, end = WINDOW + since * M, WINDOW + min(since + length, MINUTES + 2000) * M
    got = stats_of(RegionId("X"), periods, start, end, by=by, tz=KYIV)
    covered = {m for s, e in periods for m in range(int((s - WINDOW) / M), int((e - WINDOW) / M))}
    seconds: dict[str, float] = {}
    exposure: dict[str, float] = {}
    for minute in range(int((start - WINDOW) / M), int((end - WINDOW) / M)):
        key = _key(WINDOW + minute * M, by)
        exposure[key] = exposure.get(key, 0) + 60
        if minute in covered:
            seconds[key] = seconds.get(key, 0) + 60
    counts: dict[str, int] = {}
    for s, _ in periods:
        if start <= s < end:
            counts[_key(s, by)] = counts.get(_key(s, by), 0) + 1
    assert {b.key: b.seconds for b in got.series if b.seconds} == seconds
    assert {b.key: b.period_seconds for b in got.series if b.period_seconds} == exposure
    assert {b.key: b.count for b in got.series if b.count} == counts
    assert got.total_seconds == sum(seconds.values())
    assert got.count == sum(counts.values())
    assert sum(b.seconds for b in got.series) == got.total_seconds


def _key(moment: datetime, by: By) -> str:
    local = moment.astimezone(KYIV)
    return {
        By.DAY: local.strftime("%Y-%m-%d"),
        By.MONTH: local.strftime("%Y-%m"),
        By.HOUR: local.strftime("%H"),
        By.WEEKDAY: local.strftime("%A").lower(),
    }[by]


@pytest.mark.parametrize(
    "zone", ["Europe/Kyiv", "Asia/Kathmandu", "America/St_Johns", "Australia/Lord_Howe"]
)
@settings(max_examples=40, deadline=None)
@given(start=st.integers(0, 2 * 365 * 24 * 60), length=st.integers(1, 40 * 24 * 60))
def test_hours_a_day_at_a_time_are_the_hours_one_by_one(zone: str, start: int, length: int) -> None:
    tz = ZoneInfo(zone)  # whole, 45-minute and half-hour offsets; Lord Howe moves 30 minutes
    since = datetime(2023, 1, 1, tzinfo=UTC) + start * M
    until = since + length * M
    edges, keys = [since], [bucket_key(since, By.HOUR, tz)]
    while (edge := next_boundary(edges[-1], By.HOUR, tz)) < until:
        edges.append(edge)
        keys.append(bucket_key(edge, By.HOUR, tz))
    assert segments(since, until, By.HOUR, tz) == ([*edges, until], keys)
