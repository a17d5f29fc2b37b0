"""The ukrainealarm API's wire form (v3): our alerts and regions as it answers them.

The reference is its OpenAPI description ("Ukraine Alert API" 3.0: AlertRegionModel,
Alert, AlertModification, RegionAlarmsHistory, RegionsViewModel) and how Home Assistant's
`ukraine_alarm` integration reads it through the `uasiren` client: the regions walk
(states -> districts -> communities by `regionChildIds`) and `activeAlerts[].type` of
one region. Pure functions: no I/O.

What a region's `activeAlerts` holds: the alerts on the region itself and on every region
it lies in (an oblast-wide alert is an alert in each of its communities), each with its
own `regionId` and `regionType`, as the API does. `/alerts` lists the regions that have
an alert of their own. Times are UTC to the second with a `Z`, as the service writes them;
a time never known is .NET's minimum, `0001-01-01T00:00:00Z`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from tryvoha.domain.alerts import Alert, ThreatType
from tryvoha.domain.projection import Projection
from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.protocol.compat_locations import Location, Locations

JSON = dict[str, Any]
HISTORY_LENGTH = 25  # "the last 25 alerts of the region"
TYPES = {
    ThreatType.AIR_RAID: "AIR",
    ThreatType.ARTILLERY_SHELLING: "ARTILLERY",
    ThreatType.URBAN_FIGHTS: "URBAN_FIGHTS",
    ThreatType.CHEMICAL: "CHEMICAL",
    ThreatType.NUCLEAR: "NUCLEAR",
}
NEVER = "0001-01-01T00:00:00Z"


def format_time(moment: datetime | None) -> str:
    if moment is None:
        return NEVER
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def regions_body(locations: Locations) -> bytes:
    """/api/v3/regions: every state, its districts, their communities, with their ids."""

    def node(loc: Location) -> JSON:
        return {
            "regionId": str(loc.uid),
            "regionName": loc.ukrainealarm_name,
            "regionType": loc.kind,
            "regionChildIds": [node(c) for c in locations.children(loc.uid) if c.in_ukrainealarm],
        }

    states = [node(loc) for loc in locations.children(None) if loc.in_ukrainealarm]
    return orjson.dumps({"states": states})


def status_body(seq: int) -> bytes:
    """/api/v3/alerts/status: lastActionIndex is our seq, which grows with every change."""
    return orjson.dumps({"lastActionIndex": seq})


class Index:
    """Our regions as ukrainealarm names them (only the places it lists)."""

    def __init__(self, tree: RegionTree, locations: Locations) -> None:
        self.tree = tree
        self.locations = locations

    def location(self, region_id: RegionId) -> Location | None:
        uid = self.locations.uid_of(region_id)
        loc = None if uid is None else self.locations.get(uid)
        return loc if loc is not None and loc.in_ukrainealarm else None

    def eng_name(self, loc: Location) -> str | None:
        return None if loc.region_id is None else self.tree.get(loc.region_id).name_en


def _alert(alert: Alert, loc: Location) -> JSON:
    return {
        "regionId": str(loc.uid),
        "regionType": loc.kind,
        "type": TYPES[alert.threat],
        "lastUpdate": format_time(alert.updated_at),
    }


def _region(
    index: Index, loc: Location, alerts: Sequence[tuple[Alert, Location]], quiet: datetime | None
) -> JSON:
    times = [a.updated_at for a, _ in alerts]
    if quiet is not None:
        times.append(quiet)
    return {
        "regionId": str(loc.uid),
        "regionType": loc.kind,
        "regionName": loc.ukrainealarm_name,
        "regionEngName": index.eng_name(loc),
        "lastUpdate": format_time(max(times, default=None)),
        "activeAlerts": [_alert(a, where) for a, where in alerts],
    }


def alerts_body(index: Index, projection: Projection) -> bytes:
    """/api/v3/alerts: each region with an alert of its own, in the regions' order."""
    own: dict[int, list[tuple[Alert, Location]]] = {}
    for alert in projection.active():
        loc = index.location(alert.region_id)
        if loc is not None:
            own.setdefault(loc.uid, []).append((alert, loc))
    models = [_region(index, loc, own[loc.uid], None) for loc in index.locations if loc.uid in own]
    return orjson.dumps(models)


def region_alerts(
    index: Index, projection: Projection, loc: Location
) -> list[tuple[Alert, Location]]:
    """The alerts that hold in a place: on it and on every region it lies in (for an
    unmatched community, those of its district and above)."""
    _, within = index.locations.anchor(loc)
    if within is None:
        return []
    chain = (within, *index.tree.ancestors(within))
    found: list[tuple[Alert, Location]] = []
    for region_id in reversed(chain):  # the widest first
        where = index.location(region_id)
        if where is None:
            continue
        for threat in ThreatType:
            alert = projection.find(region_id, threat)
            if alert is not None:
                found.append((alert, where))
    return found


def region_body(
    index: Index, projection: Projection, loc: Location, quiet: datetime | None
) -> bytes:
    """/api/v3/alerts/{regionId}: a one-element list, the place and what holds in it.
    `quiet` is when the place's state last changed, when known."""
    return orjson.dumps([_region(index, loc, region_alerts(index, projection, loc), quiet)])


def _timespan(span: timedelta) -> JSON:
    """.NET's TimeSpan as the service serialises it."""
    total = span.total_seconds()
    ticks = span // timedelta(microseconds=1) * 10
    whole, rest = divmod(int(total * 1000), 1000)
    days, left = divmod(whole, 86_400)
    hours, left = divmod(left, 3600)
    minutes, seconds = divmod(left, 60)
    return {
        "ticks": ticks,
        "days": days,
        "hours": hours,
        "milliseconds": rest,
        "minutes": minutes,
        "seconds": seconds,
        "totalDays": total / 86_400,
        "totalHours": total / 3600,
        "totalMilliseconds": total * 1000,
        "totalMinutes": total / 60,
        "totalSeconds": total,
    }


def history_body(index: Index, loc: Location, alerts: Iterable[Alert], now: datetime) -> bytes:
    """/api/v3/alerts/regionHistory: the place's last alerts, newest first. An alert still
    running has isContinue true and ends, for now, now."""
    alarms = []
    for alert in alerts:
        where = index.location(alert.region_id)
        end = alert.ended_at or now
        alarms.append(
            {
                "regionId": None if where is None else str(where.uid),
                "startDate": format_time(alert.started_at),
                "endDate": format_time(end),
                "duration": _timespan(end - alert.started_at),
                "alertType": TYPES[alert.threat],
                "regionName": index.tree.get(alert.region_id).name_uk
                if where is None
                else where.ukrainealarm_name,
                "isContinue": alert.ended_at is None,
            }
        )
    return orjson.dumps(
        [{"regionId": str(loc.uid), "regionName": loc.ukrainealarm_name, "alarms": alarms}]
    )
