"""The historical record as alerts: its sources, the overlap rules, deterministic ids, events.

Pure: rows come in parsed and mapped to regions (tryvoha.protocol.history_csv); what to
write comes out. The rules, in the order they apply:

1. Within one source, rows of the same region that overlap (one starts before the other
   ends) are one alert from the earliest start to the latest end. Rows that only touch
   (one ends the moment the next starts) stay two alerts.
2. Two sources never both speak for the same time. When the official record is continued
   by the consolidated one, the hand-over is a quiet moment (`quiet_moment`); and a row is
   left out when the store already holds another source's record over its time.
3. An alert's id is derived from its source, region and start, so importing the same
   record twice writes nothing the second time.
4. Each alert becomes `alert.declared` at its start and, right after it in the log,
   `alert.cleared` at its end: the log never holds a historical alert open, so it replays
   whatever live alerts stand beside it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from tryvoha.domain.alerts import Alert, AlertId, AlertLevel, Message, ThreatType
from tryvoha.domain.events import HISTORY_ISSUER_PREFIX, EventType, PendingEvent
from tryvoha.domain.regions import RegionId

# The newest day of an official snapshot may lack alerts that were still running when it
# was taken (upstream writes an alert only once it has ended).
UNSETTLED = timedelta(hours=24)


class Source(StrEnum):
    OFFICIAL = "official"
    CONSOLIDATED = "consolidated"

    @property
    def issuer(self) -> str:
        return HISTORY_ISSUER_PREFIX + self.value

    @property
    def meaning(self) -> str:
        return MEANING[self]


MEANING = {
    Source.OFFICIAL: (
        "the national alert system's own alerts, each for the oblast, raion or hromada it named"
    ),
    Source.CONSOLIDATED: (
        "oblast level only: each alert means some alert was active somewhere in the oblast "
        "(overlapping oblast, raion and hromada alerts merged); not an oblast-wide alert, "
        "and fewer alerts than were really declared"
    ),
}


def issuer_source(issuer: str) -> Source | None:
    for source in Source:
        if source.issuer == issuer:
            return source
    return None


@dataclass(frozen=True, slots=True)
class Record:
    """One row of a history file, mapped to a region."""

    region_id: RegionId
    started_at: datetime
    ended_at: datetime
    subalerts: int = 1  # raw alerts the row stands for (a consolidated row merges many)
    line: int = 0


@dataclass(frozen=True, slots=True)
class PastAlert:
    id: AlertId
    source: Source
    region_id: RegionId
    started_at: datetime
    ended_at: datetime
    rows: int = 1  # rows of the file merged into it (rule 1)
    subalerts: int = 1


@dataclass(frozen=True, slots=True)
class Span:
    """The time a source's record covers, from its first start to its last end."""

    source: Source
    start: datetime
    end: datetime

    def overlaps(self, alert: PastAlert) -> bool:
        return alert.started_at < self.end and alert.ended_at > self.start


@dataclass(frozen=True, slots=True)
class LeftOut:
    alert: PastAlert
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What one import would write, in order, and what it leaves out and why."""

    alerts: list[PastAlert]
    left_out: list[LeftOut]
    cutover: datetime | None  # official before it, consolidated from it
    merged_rows: int  # rows folded into another row's alert by rule 1


# -- rule 1 ---------------------------------------------------------------------------


def merge_overlaps(records: Iterable[Record], source: Source) -> tuple[list[PastAlert], int]:
    """One alert per run of overlapping rows of a region; how many rows were folded in."""
    by_region: dict[RegionId, list[Record]] = {}
    for record in records:
        by_region.setdefault(record.region_id, []).append(record)
    alerts: list[PastAlert] = []
    folded = 0
    for region_id, rows in by_region.items():
        rows.sort(key=lambda r: (r.started_at, r.ended_at))
        start, end, count, subalerts = rows[0].started_at, rows[0].ended_at, 1, rows[0].subalerts
        for row in rows[1:]:
            if row.started_at < end:
                end = max(end, row.ended_at)
                count += 1
                subalerts += row.subalerts
                folded += 1
                continue
            alerts.append(_past(source, region_id, start, end, count, subalerts))
            start, end, count, subalerts = row.started_at, row.ended_at, 1, row.subalerts
        alerts.append(_past(source, region_id, start, end, count, subalerts))
    alerts.sort(key=lambda a: (a.started_at, a.region_id))
    return alerts, folded


def _past(
    source: Source, region_id: RegionId, start: datetime, end: datetime, rows: int, subalerts: int
) -> PastAlert:
    return PastAlert(
        history_alert_id(source, region_id, start), source, region_id, start, end, rows, subalerts
    )


# -- rule 2 ---------------------------------------------------------------------------


def quiet_moment(intervals: Iterable[tuple[datetime, datetime]], before: datetime) -> datetime:
    """The latest moment at or before `before` that lies strictly inside no interval.

    Cutting two records there leaves every alert whole on one side of the cut.
    """
    ordered = sorted(intervals)
    answer = before
    start: datetime | None = None
    end: datetime | None = None
    for s, e in ordered:
        if s >= before:
            break
        if end is None or s >= end:  # a new run of overlapping intervals begins at s
            start, end = s, e
        else:
            end = max(end, e)
    if start is not None and end is not None and start < before < end:
        answer = start
    return answer


def plan_import(
    official: Sequence[Record],
    consolidated: Sequence[Record],
    covered: Sequence[Span] = (),
) -> Plan:
    """The alerts to write for an official record continued by a consolidated one.

    The consolidated record takes over at a quiet moment at least a day before the last
    official alert starts (`UNSETTLED`), and only if it reaches further. `covered` is what
    the store holds already, per source: a row inside another source's span is left out.
    """
    off, folded_off = merge_overlaps(official, Source.OFFICIAL)
    con, folded_con = merge_overlaps(consolidated, Source.CONSOLIDATED)
    left_out: list[LeftOut] = []
    cutover: datetime | None = None
    if off and con and con[-1].started_at > off[-1].started_at:
        before = off[-1].started_at - UNSETTLED
        cutover = quiet_moment(((a.started_at, a.ended_at) for a in (*off, *con)), before)
        shown = _shown(cutover)
        left_out += [
            LeftOut(a, f"after the hand-over to the consolidated record at {shown}")
            for a in off
            if a.started_at >= cutover
        ]
        left_out += [
            LeftOut(a, f"before the hand-over from the official record at {shown}")
            for a in con
            if a.started_at < cutover
        ]
        off = [a for a in off if a.started_at < cutover]
        con = [a for a in con if a.started_at >= cutover]
    elif off and con:
        left_out += [
            LeftOut(a, "the official record covers this time") for a in con
        ]  # the official file reaches further: nothing to continue
        con = []
    kept: list[PastAlert] = []
    for alert in sorted((*off, *con), key=lambda a: (a.started_at, a.region_id)):
        clash = next((s for s in covered if s.source != alert.source and s.overlaps(alert)), None)
        if clash is None:
            kept.append(alert)
        else:
            left_out.append(
                LeftOut(
                    alert,
                    f"the store holds the {clash.source} record for this time "
                    f"({_shown(clash.start)} to {_shown(clash.end)})",
                )
            )
    return Plan(kept, left_out, cutover, folded_off + folded_con)


def _shown(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- rule 3 ---------------------------------------------------------------------------

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base 32, as live alert ids
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # ten bits as two digits
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def history_alert_id(source: Source, region_id: RegionId, started_at: datetime) -> AlertId:
    """26 characters in the layout of live ids (48 bits of start milliseconds, then 80
    bits), the 80 bits a hash of source, region and start instead of random."""
    ms = (started_at - _EPOCH) // timedelta(milliseconds=1)
    digest = hashlib.sha256(f"{source.value}|{region_id}|{ms}".encode()).digest()
    value = (ms << 80) | int.from_bytes(digest[:10], "big")
    return AlertId("".join(_PAIRS[(value >> shift) & 1023] for shift in range(120, -10, -10)))


# -- rule 4 ---------------------------------------------------------------------------


def message_for(alert: PastAlert) -> Message | None:
    """What a reader of the alert is told about where it comes from."""
    if alert.source is not Source.CONSOLIDATED:
        return None
    return Message(
        uk=f"Зведений запис: тривога десь в області (записів: {alert.subalerts})",
        en=f"Consolidated record: an alert somewhere in the oblast ({alert.subalerts} merged)",
    )


def history_events(alert: PastAlert) -> tuple[PendingEvent, PendingEvent]:
    """Declared at the start, cleared at the end, with the original times."""
    issuer = alert.source.issuer
    message = message_for(alert)
    declared, cleared = (
        Alert(
            id=alert.id,
            region_id=alert.region_id,
            threat=ThreatType.AIR_RAID,
            level=AlertLevel.RED,
            threats=(),
            message=message,
            started_at=alert.started_at,
            updated_at=updated,
            ended_at=ended,
            issuer=issuer,
        )
        for updated, ended in ((alert.started_at, None), (alert.ended_at, alert.ended_at))
    )
    return (
        PendingEvent(EventType.DECLARED, alert.started_at, issuer, declared),
        PendingEvent(EventType.CLEARED, alert.ended_at, issuer, cleared),
    )
