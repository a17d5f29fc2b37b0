"""Statistics of the alert record: how often, how long and when a place was under alert.

Pure: alerts come in as (region, started, ended or None) and the clock's `now` and the
time zone of the buckets are passed in. The definitions, used everywhere:

* A place is under alert whenever it or a region above it has an active alert (a hromada
  is under alert whenever its raion or oblast is). Its **alert periods** are the union of
  those alerts, merged: overlapping or touching alerts are one period, so no time is
  counted twice. An alert still active ends at `now`.
* Over a period [since, until), with until no later than now:
  **count** is the number of alert periods that began in it; **total_seconds** the time
  under alert in it (including the part of a period that began before `since`);
  **share** total_seconds over the length of the period; **longest_seconds** the longest
  unbroken time under alert inside it.
* A series splits the same numbers into buckets of local time in `tz`: by day, month,
  hour of day or weekday. A period counts in the bucket where it began and its seconds go
  to each bucket it covers, so an alert across midnight adds time to both days. The
  counts and seconds of a series add up to count and total_seconds.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from enum import StrEnum

from tryvoha.domain.regions import Level, RegionId, RegionTree

Interval = tuple[datetime, datetime]  # [start, end)
AlertSpan = tuple[RegionId, datetime, datetime | None]  # as the store answers

ZERO = timedelta(0)
HOUR = timedelta(hours=1)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HOURS = tuple(f"{h:02d}" for h in range(24))


class By(StrEnum):
    DAY = "day"
    MONTH = "month"
    HOUR = "hour"  # hour of the day, 00 to 23
    WEEKDAY = "weekday"  # monday to sunday


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str  # 2024-11-13 | 2024-11 | 07 | wednesday
    count: int
    seconds: float
    period_seconds: float  # how much of [since, until) falls in this bucket

    @property
    def share(self) -> float:
        return self.seconds / self.period_seconds if self.period_seconds else 0.0


@dataclass(frozen=True, slots=True)
class RegionStats:
    region_id: RegionId
    since: datetime
    until: datetime  # no later than now
    count: int
    total_seconds: float
    longest_seconds: float
    by: By | None = None
    series: tuple[Bucket, ...] = ()

    @property
    def period_seconds(self) -> float:
        return max((self.until - self.since).total_seconds(), 0.0)

    @property
    def share(self) -> float:
        period = self.period_seconds
        return self.total_seconds / period if period else 0.0


@dataclass(frozen=True, slots=True)
class Episode:
    """A time when at least N oblast-level units were under alert at once."""

    started_at: datetime
    ended_at: datetime
    peak: int  # most units under alert at once
    peak_at: datetime
    oblasts: tuple[RegionId, ...]  # every unit under alert at some moment of it

    @property
    def seconds(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()


# -- alert periods ----------------------------------------------------------------------


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The union as sorted, disjoint intervals; touching intervals are joined."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def alert_periods(
    tree: RegionTree, region_id: RegionId, alerts: Iterable[AlertSpan], *, now: datetime
) -> list[Interval]:
    """When the region was under alert: its own alerts and those of every region above it."""
    covering = {region_id, *tree.ancestors(region_id)}
    return merge((s, e or now) for r, s, e in alerts if r in covering and s < (e or now))


def clip(periods: Sequence[Interval], since: datetime, until: datetime) -> list[Interval]:
    return [(max(s, since), min(e, until)) for s, e in periods if s < until and e > since]


# -- one region ---------------------------------------------------------------------------


def region_stats(
    tree: RegionTree,
    region_id: RegionId,
    alerts: Iterable[AlertSpan],
    since: datetime,
    until: datetime,
    *,
    now: datetime,
    by: By | None = None,
    tz: tzinfo = UTC,
) -> RegionStats:
    until = min(until, now)
    periods = alert_periods(tree, region_id, alerts, now=now)
    return stats_of(region_id, periods, since, until, by=by, tz=tz)


def stats_of(
    region_id: RegionId,
    periods: Sequence[Interval],
    since: datetime,
    until: datetime,
    *,
    by: By | None = None,
    tz: tzinfo = UTC,
) -> RegionStats:
    """The numbers for merged alert periods over [since, until)."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    inside = clip(periods, since, until)
    count = sum(1 for s, _ in periods if since <= s < until)
    total = sum((e - s for s, e in inside), ZERO)
    longest = max((e - s for s, e in inside), default=ZERO)
    series = tuple(buckets(periods, since, until, by, tz)) if by is not None else ()
    return RegionStats(
        region_id,
        since,
        until,
        count,
        total.total_seconds(),
        longest.total_seconds(),
        by,
        series,
    )


def summaries(
    tree: RegionTree,
    region_ids: Iterable[RegionId],
    alerts: Iterable[AlertSpan],
    since: datetime,
    until: datetime,
    *,
    now: datetime,
) -> list[RegionStats]:
    """Stats without a series for many regions from one list of alerts."""
    until = min(until, now)
    by_region: dict[RegionId, list[Interval]] = {}
    for r, s, e in alerts:
        by_region.setdefault(r, []).append((s, e or now))
    out = []
    for region_id in region_ids:
        own = [i for r in (region_id, *tree.ancestors(region_id)) for i in by_region.get(r, ())]
        out.append(stats_of(region_id, merge(own), since, until))
    return out


# -- buckets ------------------------------------------------------------------------------


def bucket_key(moment: datetime, by: By, tz: tzinfo) -> str:
    local = moment.astimezone(tz)
    if by is By.DAY:
        return local.date().isoformat()
    if by is By.MONTH:
        return f"{local.year:04d}-{local.month:02d}"
    if by is By.HOUR:
        return HOURS[local.hour]
    return WEEKDAYS[local.weekday()]


def next_boundary(moment: datetime, by: By, tz: tzinfo) -> datetime:
    """The first instant after `moment` that starts a new bucket in local time."""
    moment = moment.astimezone(UTC)  # arithmetic on elapsed time, never on wall clocks
    local = moment.astimezone(tz)
    if by is By.HOUR:
        into = timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
        return moment + timedelta(hours=1) - into  # exact across a DST change
    if by is By.MONTH:
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        day = local.date().replace(year=year, month=month, day=1)
    else:
        day = local.date() + timedelta(days=1)
    boundary = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    return boundary if boundary > moment else moment + timedelta(hours=1)


def segments(
    since: datetime, until: datetime, by: By, tz: tzinfo
) -> tuple[list[datetime], list[str]]:
    """The bucket edges: since, every bucket start inside (since, until), until; and the
    key of each segment between two edges."""
    if by is By.HOUR:
        return _hour_segments(since, until, tz)
    edges = [since]
    edge = next_boundary(since, by, tz)
    while edge < until:
        edges.append(edge)
        edge = next_boundary(edge, by, tz)
    edges.append(until)
    return edges, [bucket_key(edge, by, tz) for edge in edges[:-1]]


def _hour_segments(
    since: datetime, until: datetime, tz: tzinfo
) -> tuple[list[datetime], list[str]]:
    """As `segments`, a local day at a time: its hours are an hour apart in elapsed time
    (DST moves whole hours at whole hours), so only a day with a change needs the zone
    for each hour's label."""
    edges, keys = [since], [bucket_key(since, By.HOUR, tz)]
    edge = next_boundary(since, By.HOUR, tz)
    while edge < until:
        stop = next_boundary(edge, By.DAY, tz)
        count, rest = divmod(stop - edge, HOUR)
        first = edge.astimezone(tz).hour
        hours = [edge + k * HOUR for k in range(count)] if rest == ZERO else [edge]
        if rest == ZERO and first + count == 24:  # no change of offset in this day
            labels = list(HOURS[first:])
        else:
            labels = [bucket_key(h, By.HOUR, tz) for h in hours]
        for h, label in zip(hours, labels, strict=True):
            if h >= until:
                break
            edges.append(h)
            keys.append(label)
        edge = stop if rest == ZERO else next_boundary(edge, By.HOUR, tz)
    edges.append(until)
    return edges, keys


def buckets(
    periods: Sequence[Interval], since: datetime, until: datetime, by: By, tz: tzinfo
) -> list[Bucket]:
    """The series over [since, until): every bucket, empty ones included, in order."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    if until <= since:
        return []
    edges, keys = segments(since, until, by, tz)
    order = {By.HOUR: HOURS, By.WEEKDAY: WEEKDAYS}.get(by, ())
    counts: dict[str, int] = dict.fromkeys((*order, *keys), 0)
    seconds: dict[str, timedelta] = dict.fromkeys(counts, ZERO)
    exposure: dict[str, timedelta] = dict.fromkeys(counts, ZERO)
    for i, key in enumerate(keys):
        exposure[key] += edges[i + 1] - edges[i]
    for start, end in periods:
        if end <= since or start >= until:
            continue
        s, e = max(start, since), min(end, until)
        i = bisect.bisect_right(edges, s) - 1
        if start >= since:
            counts[keys[i]] += 1
        while i < len(keys) and edges[i] < e:
            seconds[keys[i]] += min(e, edges[i + 1]) - max(s, edges[i])
            i += 1
    return [
        Bucket(k, counts[k], seconds[k].total_seconds(), exposure[k].total_seconds())
        for k in counts
    ]


# -- nationwide episodes --------------------------------------------------------------------


def oblast_periods(
    tree: RegionTree, alerts: Iterable[AlertSpan], *, now: datetime, partial: bool = False
) -> dict[RegionId, list[Interval]]:
    """Alert periods of every oblast-level unit. With `partial`, an oblast counts as under
    alert while any region inside it is; otherwise only when the oblast itself is."""
    oblasts = [r.id for r in tree.at_level(Level.OBLAST)]
    raw: dict[RegionId, list[Interval]] = {o: [] for o in oblasts}
    for region_id, start, end in alerts:
        interval = (start, end or now)
        if region_id not in tree:
            continue
        level = tree.get(region_id).level
        if level is Level.COUNTRY:
            for intervals in raw.values():
                intervals.append(interval)
        elif level is Level.OBLAST:
            raw[region_id].append(interval)
        elif partial:
            oblast = tree.oblast_of(region_id)
            if oblast is not None:
                raw[oblast].append(interval)
    return {o: merge(i) for o, i in raw.items()}


def episodes(
    periods: dict[RegionId, list[Interval]],
    since: datetime,
    until: datetime,
    *,
    min_oblasts: int,
) -> list[Episode]:
    """Times in [since, until) when at least `min_oblasts` units were under alert at once.

    Where one unit's alert ends the moment another's begins, the count does not dip.
    """
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    changes = sorted(
        (moment, delta, oblast)
        for oblast, intervals in periods.items()
        for s, e in clip(intervals, since, until)
        for moment, delta in ((s, 1), (e, -1))
    )
    found: list[Episode] = []
    active: set[RegionId] = set()
    involved: set[RegionId] = set()
    start: datetime | None = None
    peak, peak_at = 0, since
    i = 0
    while i < len(changes):
        moment = changes[i][0]
        while i < len(changes) and changes[i][0] == moment:  # all of one moment at once
            _, delta, oblast = changes[i]
            if delta > 0:
                active.add(oblast)
                involved.add(oblast)
            else:
                active.discard(oblast)
            i += 1
        if start is None and len(active) >= min_oblasts:
            start, peak, peak_at, involved = moment, len(active), moment, set(active)
        elif start is not None and len(active) < min_oblasts:
            found.append(Episode(start, moment, peak, peak_at, tuple(sorted(involved))))
            start = None
        elif start is not None and len(active) > peak:
            peak, peak_at = len(active), moment
    return found
