"""What issuers ask for, and the pure decisions that turn a request into events.

Each `decide_*` function takes the current projection, the clock's `now` and the issuer,
and returns the events to append plus the alerts to answer with. It never writes; the
caller commits the events and only then answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from tryvoha.domain.alerts import (
    Alert,
    AlertId,
    AlertLevel,
    Message,
    Threat,
    ThreatKind,
    ThreatType,
)
from tryvoha.domain.errors import (
    AlertNotActiveError,
    NothingActiveError,
    RegionNotDeclarableError,
    UnknownAlertError,
)
from tryvoha.domain.events import EventType, PendingEvent
from tryvoha.domain.projection import Projection
from tryvoha.domain.regions import Level, RegionId, RegionTree


@dataclass(frozen=True, slots=True)
class ThreatSpec:
    kind: ThreatKind
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Declare:
    regions: tuple[RegionId, ...]
    threat: ThreatType = ThreatType.AIR_RAID
    level: AlertLevel = AlertLevel.RED
    threats: tuple[ThreatSpec, ...] = ()
    message: Message | None = None
    # An alert that began before it was entered (the standing alerts, since 2022): its
    # start; None for now. Not part of the API: the callers are tryvoha's own loaders.
    started_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Update:
    alert_id: AlertId
    level: AlertLevel | None = None
    threats: tuple[ThreatSpec, ...] | None = None
    message: Message | None = None
    clear_message: bool = False  # set the message to null


@dataclass(frozen=True, slots=True)
class ClearAlert:
    alert_id: AlertId


@dataclass(frozen=True, slots=True)
class ClearRegion:
    region_id: RegionId
    threat: ThreatType | None = None  # None: every threat type


Command = Declare | Update | ClearAlert | ClearRegion


@dataclass(frozen=True, slots=True)
class Decision:
    events: list[PendingEvent]
    alerts: list[Alert]  # what the answer shows: new, changed, cleared or already active alerts


def oblasts_of(tree: RegionTree, regions: Iterable[RegionId]) -> frozenset[RegionId]:
    """The oblast-level regions a set of regions lies in (the country: all of them): how
    large a declare is, for the two-person rule (a declare over N of them waits for a
    second person's confirmation)."""
    found: set[RegionId] = set()
    for region_id in regions:
        oblast = tree.oblast_of(region_id)
        if oblast is not None:
            found.add(oblast)
        elif region_id in tree:  # above the oblasts: every one below it
            found.update(r for r in tree.descendants(region_id) if tree.oblast_of(r) == r)
    return frozenset(found)


def touched_regions(command: Command, projection: Projection) -> list[RegionId]:
    """The regions a command acts on, for the scope check (before deciding anything)."""
    if isinstance(command, Declare):
        return list(dict.fromkeys(command.regions))
    if isinstance(command, ClearRegion):
        return [command.region_id]
    alert = projection.get(command.alert_id)
    return [] if alert is None else [alert.region_id]


def _threats(
    specs: tuple[ThreatSpec, ...], now: datetime, before: tuple[Threat, ...] = ()
) -> tuple[Threat, ...]:
    """Threat detail from specs; a kind that was already there keeps its start time."""
    started = {t.kind: t.started_at for t in before}
    seen: dict[ThreatKind, Threat] = {}
    for spec in specs:
        seen[spec.kind] = Threat(spec.kind, started.get(spec.kind, now), spec.note)
    return tuple(seen.values())


def decide_declare(
    command: Declare,
    projection: Projection,
    tree: RegionTree,
    *,
    now: datetime,
    issuer: str,
    new_id: Callable[[], AlertId],
) -> Decision:
    """One alert per region. An already active (region, threat) is answered as it is and
    nothing is written for it, except that a red declare raises an active yellow to red."""
    events: list[PendingEvent] = []
    alerts: list[Alert] = []
    started = now if command.started_at is None else command.started_at
    if started > now:
        raise ValueError(f"a declare cannot start in the future ({started.isoformat()})")
    for region_id in dict.fromkeys(command.regions):
        region = tree.get(region_id)
        if region.level is Level.COUNTRY:
            raise RegionNotDeclarableError(
                "alerts are declared per region: name the oblasts (a nationwide alert names all of them)"
            )
        existing = projection.find(region.id, command.threat)
        if existing is None:
            alert = Alert(
                id=new_id(),
                region_id=region.id,
                threat=command.threat,
                level=command.level,
                threats=_threats(command.threats, now),
                message=command.message,
                started_at=started,
                updated_at=now,
                ended_at=None,
                issuer=issuer,
            )
            events.append(PendingEvent(EventType.DECLARED, now, issuer, alert))
        elif command.level.outranks(existing.level):
            alert = replace(existing, level=command.level, updated_at=now)
            events.append(PendingEvent(EventType.UPDATED, now, issuer, alert))
        else:
            alert = existing
        alerts.append(alert)
    return Decision(events, alerts)


def _active(projection: Projection, alert_id: AlertId) -> Alert:
    alert = projection.get(alert_id)
    if alert is None:
        raise UnknownAlertError(alert_id)  # the caller tells "ended" from "never existed"
    return alert


def decide_update(
    command: Update, projection: Projection, *, now: datetime, issuer: str
) -> Decision:
    alert = _active(projection, command.alert_id)
    changed = alert
    if command.level is not None:
        changed = replace(changed, level=command.level)
    if command.threats is not None:
        changed = replace(changed, threats=_threats(command.threats, now, alert.threats))
    if command.clear_message:
        changed = replace(changed, message=None)
    elif command.message is not None:
        changed = replace(changed, message=command.message)
    if changed == alert:
        return Decision([], [alert])
    changed = replace(changed, updated_at=now)
    return Decision([PendingEvent(EventType.UPDATED, now, issuer, changed)], [changed])


def _cleared(alert: Alert, now: datetime, issuer: str) -> PendingEvent:
    ended = replace(alert, ended_at=now, updated_at=now)
    return PendingEvent(EventType.CLEARED, now, issuer, ended)


def decide_clear_alert(
    command: ClearAlert, projection: Projection, *, now: datetime, issuer: str
) -> Decision:
    event = _cleared(_active(projection, command.alert_id), now, issuer)
    return Decision([event], [event.alert])


def decide_clear_region(
    command: ClearRegion, projection: Projection, tree: RegionTree, *, now: datetime, issuer: str
) -> Decision:
    """Clear the active alerts of the region and of every region below it."""
    region = tree.get(command.region_id)
    events = [
        _cleared(alert, now, issuer)
        for alert in projection.active()
        if tree.is_within(alert.region_id, region.id)
        and (command.threat is None or alert.threat is command.threat)
    ]
    if not events:
        what = f"{command.threat} alert" if command.threat else "alert"
        raise NothingActiveError(f"no active {what} in {region.name_en} ({region.id}) or below it")
    return Decision(events, [e.alert for e in events])


def decide(
    command: Command,
    projection: Projection,
    tree: RegionTree,
    *,
    now: datetime,
    issuer: str,
    new_id: Callable[[], AlertId],
) -> Decision:
    if isinstance(command, Declare):
        return decide_declare(command, projection, tree, now=now, issuer=issuer, new_id=new_id)
    if isinstance(command, Update):
        return decide_update(command, projection, now=now, issuer=issuer)
    if isinstance(command, ClearAlert):
        return decide_clear_alert(command, projection, now=now, issuer=issuer)
    return decide_clear_region(command, projection, tree, now=now, issuer=issuer)


def ensure_not_active(alert: Alert) -> None:
    """For an alert id the projection does not hold: say how it ended."""
    if alert.ended_at is not None:
        raise AlertNotActiveError(
            f"alert {alert.id} is not active: it was cleared at {alert.ended_at.isoformat()}"
        )
