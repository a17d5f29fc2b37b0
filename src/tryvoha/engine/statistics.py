"""Statistics over the store: fetch the alerts that matter, compute with tryvoha.domain.stats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.regions import COUNTRY, Level, RegionId, RegionTree
from tryvoha.domain.stats import (
    By,
    Episode,
    RegionStats,
    episodes,
    oblast_periods,
    region_stats,
    summaries,
)
from tryvoha.protocol.stats_json import parse_moment
from tryvoha.store.base import Store

DEFAULT_TZ = "Europe/Kyiv"
DEFAULT_DAYS = 30  # the period when `since` is not given: the 30 days before `until`
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_SERIES = timedelta(days=20 * 366)  # a series over a longer period is refused

# An alert that ends the moment the period begins joins the period that runs on into it,
# which then did not begin inside: fetch from a moment earlier.
EDGE = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Period:
    since: datetime
    until: datetime
    now: datetime
    tz: tzinfo
    threat: ThreatType = ThreatType.AIR_RAID

    @property
    def fetch_since(self) -> datetime:
        return self.since - EDGE


class PeriodError(ValueError):
    """A period that cannot be asked for; `field` names the parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(
            "tz", f"'{name}' is not an IANA time zone like Europe/Kyiv or UTC"
        ) from None


def choose_period(
    since: str | None,
    until: str | None,
    *,
    now: datetime,
    tz: str = DEFAULT_TZ,
    threat: ThreatType = ThreatType.AIR_RAID,
    by: By | None = None,
) -> Period:
    """The period people ask for with text: dates are midnights in tz; until defaults to
    now and since to DEFAULT_DAYS before until."""
    zone = zone_named(tz)
    moments: dict[str, datetime | None] = {}
    for field, text in (("until", until), ("since", since)):
        try:
            moments[field] = None if text is None else parse_moment(text, zone)
        except (ValueError, OverflowError) as e:
            raise PeriodError(field, str(e)) from None
        found = moments[field]
        if found is not None and found < EARLIEST:
            raise PeriodError(field, f"is before {EARLIEST:%Y-%m-%d}: there is no record then")
    end = moments["until"] or now
    start = moments["since"] or end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise PeriodError("since", "must be before until")
    if start >= now:
        raise PeriodError("since", "is in the future: there are no statistics yet")
    if by is not None and min(end, now) - start > MAX_SERIES:
        raise PeriodError("by", "a series covers at most 20 years: ask for a shorter period")
    return Period(start, end, now, zone, threat)


async def stats_for(
    store: Store, tree: RegionTree, region_id: RegionId, period: Period, by: By | None
) -> RegionStats:
    """One region: its alerts and those of every region above it."""
    regions = frozenset({region_id, *tree.ancestors(region_id)})
    alerts = await store.alert_intervals(regions, period.threat, period.fetch_since, period.until)
    return region_stats(
        tree, region_id, alerts, period.since, period.until, now=period.now, by=by, tz=period.tz
    )


async def oblast_stats(store: Store, tree: RegionTree, period: Period) -> list[RegionStats]:
    """Every oblast-level unit, from one query."""
    oblasts = [r.id for r in tree.at_level(Level.OBLAST)]
    alerts = await store.alert_intervals(
        frozenset({COUNTRY, *oblasts}), period.threat, period.fetch_since, period.until
    )
    return summaries(tree, oblasts, alerts, period.since, period.until, now=period.now)


async def nationwide_episodes(
    store: Store, tree: RegionTree, period: Period, min_oblasts: int, partial: bool = False
) -> list[Episode]:
    """Times when at least `min_oblasts` oblast-level units were under alert at once."""
    regions = None
    if not partial:
        regions = frozenset({COUNTRY, *(r.id for r in tree.at_level(Level.OBLAST))})
    alerts = await store.alert_intervals(regions, period.threat, period.fetch_since, period.until)
    periods = oblast_periods(tree, alerts, now=period.now, partial=partial)
    return episodes(periods, period.since, min(period.until, period.now), min_oblasts=min_oblasts)
