"""Statistics over the store: fetch the alerts that matter, compute with tryvoha.domain.stats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

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
from tryvoha.store.base import Store

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
