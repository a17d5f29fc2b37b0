"""Statistics of the real record against an independent computation on the raw file.

The witness reads the shipped official CSV with nothing but `csv`, picks rows by their
raw place names (an oblast row counts for every place in it, a raion row for its
hromadas), and sweeps start and end points with a counter, cutting at calendar boundaries
it makes from dates. The pipeline under test parses and maps the file, applies the
import's rules and computes with tryvoha.domain.stats.
"""

from __future__ import annotations

import bisect
import csv
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from tryvoha.data.history import OFFICIAL_FILE, open_record
from tryvoha.domain.history import PastAlert, plan_import
from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.domain.stats import By, region_stats
from tryvoha.protocol.history_csv import PlaceNames, read_history

KYIV = ZoneInfo("Europe/Kyiv")
Row = dict[str, str]


@pytest.fixture(scope="module")
def raw_rows() -> list[Row]:
    with open_record(OFFICIAL_FILE) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def imported(tree: RegionTree) -> list[PastAlert]:
    with open_record(OFFICIAL_FILE) as f:
        parsed = read_history(f, PlaceNames(tree))
    return plan_import(parsed.records, []).alerts


def within(oblast: str, raion: str = "", hromadas: tuple[str, ...] = ()) -> Callable[[Row], bool]:
    """Rows whose alert covers a place: its oblast's, its raion's and its own."""

    def covers(row: Row) -> bool:
        if row["oblast"] != oblast:
            return False
        if row["level"] == "oblast":
            return True
        if row["level"] == "raion":
            return row["raion"] == raion
        return row["raion"] == raion and row["hromada"] in hromadas

    return covers


def cuts(since: datetime, until: datetime, by: By, tz: tzinfo) -> list[datetime]:
    """Bucket starts, made from calendar dates (hours: every UTC hour; Kyiv's offsets are
    whole hours)."""
    found = []
    if by is By.HOUR:
        moment = since.replace(minute=0, second=0, microsecond=0)
        while moment < until:
            found.append(moment)
            moment += timedelta(hours=1)
    else:
        day = since.astimezone(tz).date() - timedelta(days=1)
        while (start := datetime(day.year, day.month, day.day, tzinfo=tz)) < until:
            if by is not By.MONTH or day.day == 1:
                found.append(start.astimezone(UTC))
            day += timedelta(days=1)
    return sorted({since, *(c for c in found if since < c < until)})


def key(moment: datetime, by: By, tz: tzinfo) -> str:
    local = moment.astimezone(tz)
    return {
        By.DAY: f"{local:%Y-%m-%d}",
        By.MONTH: f"{local:%Y-%m}",
        By.HOUR: f"{local:%H}",
        By.WEEKDAY: f"{local:%A}".lower(),
    }[by]


def witness(
    rows: list[Row], since: datetime, until: datetime, by: By, tz: tzinfo
) -> tuple[dict[str, tuple[int, float]], int, float]:
    """(bucket -> (alerts begun, seconds)), count, seconds: by a sweep of +1/-1 points."""
    points = []
    for row in rows:
        points.append((datetime.fromisoformat(row["started_at"]), 1))
        points.append((datetime.fromisoformat(row["finished_at"]), -1))
    points.sort(key=lambda p: (p[0], -p[1]))  # at one moment, starts first: no false gap
    edges = cuts(since, until, by, tz)
    buckets: dict[str, list[float]] = {}
    depth, opened = 0, since
    for moment, step in points:
        if depth == 0 and step > 0 and since <= moment < until:
            buckets.setdefault(key(moment, by, tz), [0, 0.0])[0] += 1
        if depth > 0 and step < 0 and depth == 1:
            _cover(buckets, edges, max(opened, since), min(moment, until), by, tz)
        if depth == 0 and step > 0:
            opened = moment
        depth += step
    got = {k: (int(v[0]), v[1]) for k, v in buckets.items() if v[0] or v[1]}
    return got, sum(c for c, _ in got.values()), sum(s for _, s in got.values())


def _cover(
    buckets: dict[str, list[float]],
    edges: list[datetime],
    start: datetime,
    end: datetime,
    by: By,
    tz: tzinfo,
) -> None:
    while start < end:
        i = bisect.bisect_right(edges, start)
        stop = min(end, edges[i]) if i < len(edges) else end
        buckets.setdefault(key(start, by, tz), [0, 0.0])[1] += (stop - start).total_seconds()
        start = stop


CASES = [
    # (region, rows that cover it, since, until, by, tz)
    pytest.param(
        "UA80000000000093317", within("Kyiv City"), "2023-01-01", "2024-01-01", By.MONTH, KYIV,
        id="Kyiv city, 2023, by month",
    ),
    pytest.param(
        "UA71060210000032972",
        within("Cherkaska oblast", "Umanskyi raion", ("Umanska terytorialna hromada",)),
        "2022-03-15", "2022-12-01", By.DAY, KYIV,
        id="Uman hromada (oblast and raion alerts count for it), 2022, by day",
    ),
    pytest.param(
        "UA12080000000023578",
        within("Dnipropetrovska oblast", "Nikopolskyi raion"),
        "2023-06-01", "2024-04-01", By.HOUR, KYIV,
        id="Nikopol raion (its hromadas' alerts do not count), by hour of day",
    ),
    pytest.param(
        "nikopol-hromada",
        within(
            "Dnipropetrovska oblast", "Nikopolskyi raion",
            ("m. Nikopol ta Nikopolska terytorialna hromada",),
        ),
        "2023-01-01", "2024-04-01", By.WEEKDAY, KYIV,
        id="Nikopol hromada, shelled daily, by weekday",
    ),
    pytest.param(
        "UA63000000000041885", within("Kharkivska oblast"), "2022-10-01", "2023-03-01", By.DAY, UTC,
        id="Kharkiv oblast across the October DST change, by UTC day",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("region", "covers", "since_text", "until_text", "by", "tz"), CASES)
def test_stats_of_the_record_match_an_independent_sweep(
    tree: RegionTree,
    raw_rows: list[Row],
    imported: list[PastAlert],
    region: str,
    covers: Callable[[Row], bool],
    since_text: str,
    until_text: str,
    by: By,
    tz: tzinfo,
) -> None:
    if region == "nikopol-hromada":
        region = PlaceNames(tree).region_for(
            "hromada",
            "Dnipropetrovska oblast",
            "Nikopolskyi raion",
            "m. Nikopol ta Nikopolska terytorialna hromada",
        )
    since = _midnight(since_text, tz)
    until = _midnight(until_text, tz)
    rows = [r for r in raw_rows if covers(r)]
    want, count, seconds = witness(rows, since, until, by, tz)
    assert count > 20 and seconds > 20 * 3600  # a case with substance

    alerts = [(a.region_id, a.started_at, a.ended_at) for a in imported]
    got = region_stats(
        tree, RegionId(region), alerts, since, until, now=datetime.now(UTC), by=by, tz=tz
    )
    series = {b.key: (b.count, b.seconds) for b in got.series if b.count or b.seconds}
    assert series == want  # whole seconds: exact
    assert got.count == count
    assert got.total_seconds == seconds
    assert got.share == pytest.approx(seconds / (until - since).total_seconds())


def _midnight(text: str, tz: tzinfo) -> datetime:
    day = date.fromisoformat(text)
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
