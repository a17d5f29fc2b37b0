"""What the pages show of the state: how each region looks, its one-word state, the
headline, and alert rows.

Every rule here has a twin in static/js (state.js, summary.js, alerts.js) that repaints
the page after the first frame; tests/web/cases/*.json hold both to the same answers.

How a region looks (`Colouring.of`):
  alert    an active alert on the region or on a region above it;
  partial  none of those, but an active alert on a region below it, or an alert that only
           says "somewhere in this region" (the consolidated record: `is_consolidated`)
           on it or above it; `vague` when only the latter;
  clear    neither.
The colour is the most dangerous threat type among those alerts (THREAT_ORDER); the level
is red when any of them is red; `standing` when every one of them has lasted LONG_STANDING
or more (Luhansk oblast and Crimea, under alert since 2022).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tryvoha.domain.alerts import Alert, AlertLevel, ThreatKind, ThreatType
from tryvoha.domain.events import is_consolidated
from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.i18n import Catalogue
from tryvoha.i18n.formats import since_text
from tryvoha.web.names import region_names

THREAT_ORDER = (
    ThreatType.NUCLEAR,
    ThreatType.CHEMICAL,
    ThreatType.AIR_RAID,
    ThreatType.URBAN_FIGHTS,
    ThreatType.ARTILLERY_SHELLING,
)
LONG_STANDING = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class ShapeState:
    state: str  # alert | partial | clear
    threat: str  # the threat type that colours it, "" when clear
    level: str  # red | yellow, "" when clear
    standing: bool = False  # every alert behind it has lasted LONG_STANDING or more
    vague: bool = False  # partial only because of "somewhere in this region" records

    @property
    def word_key(self) -> str:
        """The catalogue key of its one-word state: a yellow alert is never "Тривога"."""
        if self.state == "alert":
            return "state.word.yellow" if self.level == "yellow" else "state.word.alert"
        if self.state == "partial" and self.vague:
            return "state.word.somewhere"
        return f"state.word.{self.state}"

    def data(self) -> dict[str, str]:
        """The data- attributes a shape, card or list item carries (CSS reads them)."""
        return {
            "state": self.state,
            "threat": self.threat,
            "level": self.level,
            "standing": "true" if self.standing else "false",
            "vague": "true" if self.vague else "false",
        }


CLEAR = ShapeState("clear", "", "")


def _summary(state: str, alerts: Sequence[Alert], now: datetime, vague: bool) -> ShapeState:
    threat = min((a.threat for a in alerts), key=THREAT_ORDER.index)
    red = any(a.level is AlertLevel.RED for a in alerts)
    standing = all(now - a.started_at >= LONG_STANDING for a in alerts)
    return ShapeState(state, threat.value, "red" if red else "yellow", standing, vague)


class Colouring:
    """How any region looks under a set of active alerts, at `now`."""

    def __init__(self, tree: RegionTree, active: Iterable[Alert], now: datetime) -> None:
        self._tree = tree
        self._now = now
        self._on: dict[RegionId, list[Alert]] = {}
        self._below: dict[RegionId, list[Alert]] = {}
        for alert in active:
            self._on.setdefault(alert.region_id, []).append(alert)
            for above in tree.ancestors(alert.region_id):
                self._below.setdefault(above, []).append(alert)

    def alerts_for(self, region_id: RegionId) -> tuple[str, list[Alert]]:
        """The state and the alerts that make the region look as it does."""
        over = [
            a
            for rid in (region_id, *self._tree.ancestors(region_id))
            for a in self._on.get(rid, ())
        ]
        whole = [a for a in over if not is_consolidated(a.issuer)]
        if whole:
            return "alert", whole
        somewhere = [a for a in over if is_consolidated(a.issuer)]
        below = self._below.get(region_id, [])
        if somewhere or below:
            return "partial", [*somewhere, *below]
        return "clear", []

    def of(self, region_id: RegionId) -> ShapeState:
        state, alerts = self.alerts_for(region_id)
        if state == "clear":
            return CLEAR
        vague = state == "partial" and region_id not in self._below
        return _summary(state, alerts, self._now, vague)


def advice_keys(look: ShapeState, alerts: Sequence[Alert]) -> list[str]:
    """What to do, as catalogue keys: one per threat type under alert (a yellow one says
    "be ready"), else one for an alert in part of the region, else "no alert here"."""
    if look.state == "alert":
        keys: list[str] = []
        for threat in THREAT_ORDER:
            of_type = [a for a in alerts if a.threat is threat]
            if not of_type:
                continue
            red = any(a.level is AlertLevel.RED for a in of_type)
            key = f"advice.{threat.value}" if red else "advice.yellow"
            if key not in keys:
                keys.append(key)
        return keys
    if look.state == "partial":
        return ["advice.somewhere" if look.vague else "advice.partial"]
    return ["advice.clear"]


# -- the headline ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Headline:
    red: int  # oblast-level units under a red alert
    yellow: int  # ... under a yellow one only
    partial: int
    total: int
    active: int  # active alerts

    @property
    def state(self) -> str:
        return "alert" if self.red else "yellow" if self.yellow else "clear"

    def title(self, t: Catalogue) -> str:
        if self.red == self.total:
            return t("summary.all")
        if self.red:
            return t("summary.oblasts", n=self.red, total=self.total)
        if self.yellow:
            return t("summary.yellow_oblasts", n=self.yellow, total=self.total)
        if self.partial:
            return t("summary.only_partial")
        return t("summary.none")

    def sub(self, t: Catalogue) -> str:
        parts = []
        if self.red and self.yellow:
            parts.append(t("summary.yellow_more", n=self.yellow))
        if self.partial and (self.red or self.yellow):
            parts.append(t("summary.partial", n=self.partial))
        parts.append(t("summary.active", n=self.active) if self.active else t("summary.calm"))
        return " · ".join(parts)


def headline(looks: Sequence[ShapeState], active: int) -> Headline:
    """How many oblast-level units are under a red alert, a yellow one, or in part."""
    red = sum(1 for s in looks if s.state == "alert" and s.level == "red")
    yellow = sum(1 for s in looks if s.state == "alert" and s.level == "yellow")
    partial = sum(1 for s in looks if s.state == "partial")
    return Headline(red, yellow, partial, len(looks), active)


# -- alert rows -------------------------------------------------------------------------


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
    since: str  # "08:02" today, else "04.04.2022 19:45"
    started_iso: str
    standing: bool
    vague: bool  # a consolidated record: somewhere in the region


def message_text(alert: Alert, lang: str) -> str | None:
    return None if alert.message is None else alert.message.in_language(lang)


KIND_ORDER = tuple(ThreatKind)


def alert_rows(
    tree: RegionTree, alerts: Iterable[Alert], t: Catalogue, now: datetime
) -> list[AlertRow]:
    """Newest first: what just happened is what people look for."""
    names = region_names()
    rows = []
    for a in sorted(alerts, key=lambda a: (a.started_at, a.region_id), reverse=True):
        oblast = tree.oblast_of(a.region_id)
        rows.append(
            AlertRow(
                id=a.id,
                region_id=a.region_id,
                region=names[a.region_id].full(t.lang),
                where=names[oblast].full(t.lang) if oblast and oblast != a.region_id else "",
                threat=a.threat.value,
                level=a.level.value,
                threats=tuple(
                    k.value for k in sorted((th.kind for th in a.threats), key=KIND_ORDER.index)
                ),
                message=message_text(a, t.lang),
                since=since_text(a.started_at, now),
                started_iso=a.started_at.isoformat().replace("+00:00", "Z"),
                standing=now - a.started_at >= LONG_STANDING,
                vague=is_consolidated(a.issuer),
            )
        )
    return rows
