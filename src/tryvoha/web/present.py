"""What the pages show of the state: a colour for each region shape, and alert rows.

The colouring rule, here for the first paint and in static/js/state.js for every update
after it (tests hold the two to the same answers):
  alert    an active alert on the region or on a region above it;
  partial  none of those, but an active alert on a region below it;
  clear    neither.
The colour is the most dangerous threat type among those alerts (THREAT_ORDER), and the
level is red when any of them is red.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from tryvoha.domain.alerts import Alert, AlertLevel, ThreatType
from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.i18n import Catalogue
from tryvoha.web.names import region_names

# The country's clock for the pages (people read "since 08:02" in Kyiv time).
DISPLAY_TIME_ZONE = "Europe/Kyiv"
THREAT_ORDER = (
    ThreatType.NUCLEAR,
    ThreatType.CHEMICAL,
    ThreatType.AIR_RAID,
    ThreatType.URBAN_FIGHTS,
    ThreatType.ARTILLERY_SHELLING,
)


@dataclass(frozen=True, slots=True)
class ShapeState:
    state: str  # alert | partial | clear
    threat: str  # the threat type that colours it, "" when clear
    level: str  # red | yellow, "" when clear


CLEAR = ShapeState("clear", "", "")


def _summary(state: str, alerts: Sequence[Alert]) -> ShapeState:
    threat = min((a.threat for a in alerts), key=THREAT_ORDER.index)
    red = any(a.level is AlertLevel.RED for a in alerts)
    return ShapeState(state, threat.value, "red" if red else "yellow")


class Colouring:
    """Effective state of any region under a set of active alerts."""

    def __init__(self, tree: RegionTree, active: Iterable[Alert]) -> None:
        self._tree = tree
        self._on: dict[RegionId, list[Alert]] = {}
        self._below: dict[RegionId, list[Alert]] = {}
        for alert in active:
            self._on.setdefault(alert.region_id, []).append(alert)
            for above in tree.ancestors(alert.region_id):
                self._below.setdefault(above, []).append(alert)

    def of(self, region_id: RegionId) -> ShapeState:
        covering = [
            a
            for rid in (region_id, *self._tree.ancestors(region_id))
            for a in self._on.get(rid, ())
        ]
        if covering:
            return _summary("alert", covering)
        inside = self._below.get(region_id)
        return _summary("partial", inside) if inside else CLEAR


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: str
    region_id: RegionId
    region: str  # full name in the page language
    where: str  # the oblast it is in, when it is below one
    threat: str
    level: str
    threats: tuple[str, ...]
    message: str | None
    started_at: datetime
    started_iso: str


def local_time(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(DISPLAY_TIME_ZONE))


def alert_rows(tree: RegionTree, alerts: Iterable[Alert], t: Catalogue) -> list[AlertRow]:
    """Newest first: what just happened is what people look for."""
    names = region_names()
    rows = []
    for a in sorted(alerts, key=lambda a: (a.started_at, a.region_id), reverse=True):
        oblast = tree.oblast_of(a.region_id)
        where = names[oblast].full(t.lang) if oblast and oblast != a.region_id else ""
        message = None
        if a.message is not None:
            message = (
                (a.message.en or a.message.uk) if t.lang != "uk" else (a.message.uk or a.message.en)
            )
        rows.append(
            AlertRow(
                id=a.id,
                region_id=a.region_id,
                region=names[a.region_id].full(t.lang),
                where=where,
                threat=a.threat.value,
                level=a.level.value,
                threats=tuple(th.kind.value for th in a.threats),
                message=message,
                started_at=local_time(a.started_at),
                started_iso=a.started_at.isoformat().replace("+00:00", "Z"),
            )
        )
    return rows


def duration_text(t: Catalogue, seconds: float) -> str:
    """ "12 хв", "1 год 05 хв", "2 д 3 год": the same as static/js/i18n.js writes."""
    minutes = max(int(seconds // 60), 0)
    if minutes < 60:
        return t("time.minutes", m=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return t("time.hours_minutes", h=hours, m=f"{minutes:02d}")
    days, hours = divmod(hours, 24)
    return t("time.days_hours", d=days, h=hours)
