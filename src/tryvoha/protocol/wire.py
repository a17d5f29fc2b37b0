"""The JSON form of alerts and events, shared by the API, the streams, the store and the bus.

An event is encoded once, when it is committed; the same bytes are stored, sent on every
stream and relayed between processes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from tryvoha.domain.alerts import (
    Alert,
    AlertId,
    AlertLevel,
    Message,
    Threat,
    ThreatKind,
    ThreatType,
)
from tryvoha.domain.events import Event, EventType, Seq
from tryvoha.domain.regions import RegionId

JSON = dict[str, Any]


_FORMATTED: dict[datetime, str] = {}  # an event names the same moment two or three times
_FORMATTED_MAX = 4096


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds: 2024-11-13T05:12:03.000Z."""
    text = _FORMATTED.get(moment)  # equal moments in any zone are one key: the same text
    if text is None:
        utc = moment.astimezone(UTC)
        if utc.year < 1000:  # as it always was: the year unpadded (strftime's %Y)
            text = utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
        else:
            text = f"{utc.isoformat(timespec='milliseconds')[:-6]}Z"
        if len(_FORMATTED) >= _FORMATTED_MAX:
            _FORMATTED.clear()
        _FORMATTED[moment] = text
    return text


def parse_time(text: str) -> datetime:
    """An RFC 3339 time with a zone, in UTC; ValueError for anything else."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time '{text}' has no time zone")
    if moment.tzinfo is UTC:
        return moment
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 has no UTC form
        raise ValueError(f"time '{text}' is out of range") from None


# Enum lookups by value without Enum.__call__: decoding runs for every event of a replay.
_THREAT_TYPES = {member.value: member for member in ThreatType}
_LEVELS = {member.value: member for member in AlertLevel}
_KINDS = {member.value: member for member in ThreatKind}
_EVENT_TYPES = {member.value: member for member in EventType}


def alert_to_json(alert: Alert) -> JSON:
    return {
        "id": alert.id,
        "region_id": alert.region_id,
        "threat": alert.threat._value_,  # _value_: a plain attribute, not a descriptor
        "level": alert.level._value_,
        "threats": [
            {"kind": t.kind._value_, "started_at": format_time(t.started_at), "note": t.note}
            for t in alert.threats
        ],
        "message": None
        if alert.message is None
        else {"uk": alert.message.uk, "en": alert.message.en},
        "started_at": format_time(alert.started_at),
        "updated_at": format_time(alert.updated_at),
        "ended_at": None if alert.ended_at is None else format_time(alert.ended_at),
        "issuer": alert.issuer,
    }


def alert_from_json(data: JSON) -> Alert:
    message = data["message"]
    return Alert(
        id=AlertId(data["id"]),
        region_id=RegionId(data["region_id"]),
        threat=_THREAT_TYPES[data["threat"]],
        level=_LEVELS[data["level"]],
        threats=tuple(
            Threat(_KINDS[t["kind"]], parse_time(t["started_at"]), t["note"])
            for t in data["threats"]
        ),
        message=None if message is None else Message(message["uk"], message["en"]),
        started_at=parse_time(data["started_at"]),
        updated_at=parse_time(data["updated_at"]),
        ended_at=None if data["ended_at"] is None else parse_time(data["ended_at"]),
        issuer=data["issuer"],
    )


def event_to_json(event: Event) -> JSON:
    return {
        "seq": event.seq,
        "type": event.type._value_,
        "at": format_time(event.at),
        "issuer": event.issuer,
        "alert": alert_to_json(event.alert),
    }


def encode_event(event: Event) -> bytes:
    return orjson.dumps(event_to_json(event))


def decode_event(raw: bytes | str) -> Event:
    data = orjson.loads(raw)
    return Event(
        seq=Seq(data["seq"]),
        type=_EVENT_TYPES[data["type"]],
        at=parse_time(data["at"]),
        issuer=data["issuer"],
        alert=alert_from_json(data["alert"]),
    )
