"""alerts.in.ua's wire form: our alerts and region states as its API answers them.

The reference is alerts.in.ua's public API documentation and its own client, the PyPI
package alerts-in-ua 0.4 (what the fields are called, how times are written, which
letters the IoT strings use and in which order the oblasts come). Pure functions: no I/O;
the server caches what they return once per seq.

Choices where the reference is silent, written down in docs/compat.md:
- `id` is an integer there, a 26-character string here: it is the first 53 bits of a
  BLAKE2b hash of our id (stable, exact in JavaScript, collisions improbable).
- Each threat of an alert carries the alert's level (threats have no level of their own
  here); `source_message` is the threat's note; `notes` is the issuer's Ukrainian message.
- `calculated` is always false: an end is announced, never inferred.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

from tryvoha.domain.alerts import Alert, AlertLevel, ThreatType
from tryvoha.domain.projection import Projection, RegionState
from tryvoha.domain.regions import Level, Region, RegionId, RegionTree
from tryvoha.protocol.compat_locations import Location, Locations
from tryvoha.protocol.wire import format_time

IotVersion = Literal[1, 2]
# History periods the client asks for (the docs name month_ago; the client's default is week_ago).
PERIODS = {"week_ago": timedelta(days=7), "month_ago": timedelta(days=30)}
DISCLAIMER = (
    "Served by tryvoha, an alerts.in.ua-compatible API: alerts as this server's issuers "
    "declared them. For a shelter decision, follow the official channels."
)
# The IoT string's oblast order, as alerts.in.ua documents it (uids).
OBLAST_ORDER = (
    29,  # Автономна Республіка Крим
    8,  # Волинська
    4,  # Вінницька
    9,  # Дніпропетровська
    28,  # Донецька
    10,  # Житомирська
    11,  # Закарпатська
    12,  # Запорізька
    13,  # Івано-Франківська
    31,  # м. Київ
    14,  # Київська
    15,  # Кіровоградська
    16,  # Луганська
    27,  # Львівська
    17,  # Миколаївська
    18,  # Одеська
    19,  # Полтавська
    5,  # Рівненська
    30,  # м. Севастополь
    20,  # Сумська
    21,  # Тернопільська
    22,  # Харківська
    23,  # Херсонська
    3,  # Хмельницька
    24,  # Черкаська
    26,  # Чернівецька
    25,  # Чернігівська
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
JSON = dict[str, Any]


def numeric_id(alert_id: str) -> int:
    """alerts.in.ua's integer id for one of ours: 53 bits, exact as a JavaScript number."""
    digest = hashlib.blake2b(alert_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 11


def meta_time(moment: datetime) -> str:
    """meta.last_updated_at as the client parses it: 2024/11/13 04:47:00 +0000."""
    return moment.astimezone(UTC).strftime("%Y/%m/%d %H:%M:%S +0000")


class Places:
    """How alerts.in.ua names our regions: titles, types and uids, from the location table
    where it has the place, from the region tree where it does not."""

    def __init__(self, tree: RegionTree, locations: Locations) -> None:
        self.tree = tree
        self.locations = locations

    def location(self, region_id: RegionId) -> Location | None:
        uid = self.locations.uid_of(region_id)
        return None if uid is None else self.locations.get(uid)

    def title(self, region: Region) -> str:
        loc = self.location(region.id)
        return region.name_uk if loc is None else loc.title

    def type(self, region: Region) -> str:
        loc = self.location(region.id)
        return region.level.value if loc is None else loc.type

    def uid(self, region_id: RegionId) -> str | None:
        uid = self.locations.uid_of(region_id)
        return None if uid is None else str(uid)

    def raion_of(self, region: Region) -> Region | None:
        for candidate in (region.id, *self.tree.ancestors(region.id)):
            found = self.tree.get(candidate)
            if found.level is Level.RAION:
                return found
        return None


def alert_json(alert: Alert, places: Places) -> JSON:
    """One alert, with alerts.in.ua's field names, in its documented order."""
    tree = places.tree
    region = tree.get(alert.region_id)
    oblast_id = tree.oblast_of(region.id)
    oblast = None if oblast_id is None else tree.get(oblast_id)
    raion = places.raion_of(region)
    return {
        "id": numeric_id(alert.id),
        "location_title": places.title(region),
        "location_type": places.type(region),
        "started_at": format_time(alert.started_at),
        "finished_at": None if alert.ended_at is None else format_time(alert.ended_at),
        "updated_at": format_time(alert.updated_at),
        "alert_type": alert.threat.value,
        "location_uid": places.uid(region.id),
        "location_oblast": None if oblast is None else places.title(oblast),
        "location_oblast_uid": None if oblast is None else places.uid(oblast.id),
        "location_raion": None if raion is None else places.title(raion),
        "notes": None if alert.message is None else alert.message.uk,
        "calculated": False,
        "location_title_en": region.name_en,
        "country": None,
        "alert_level": alert.level.value,
        "threats": [
            {
                "threat_type": t.kind.value,
                "level": alert.level.value,
                "started_at": format_time(t.started_at),
                "source_message": t.note,
            }
            for t in alert.threats
        ],
    }


def alerts_body(alerts: Iterable[Alert], places: Places, updated_at: datetime) -> bytes:
    """The body of /v1/alerts/active.json and of a region's history."""
    return orjson.dumps(
        {
            "alerts": [alert_json(a, places) for a in alerts],
            "meta": {"last_updated_at": meta_time(updated_at), "type": "full"},
            "disclaimer": DISCLAIMER,
        }
    )


def region_history_since(period: str, now: datetime) -> datetime | None:
    """The start of a history period, None for a period alerts.in.ua does not have."""
    span = PERIODS.get(period)
    return None if span is None else now - span


# -- IoT strings ------------------------------------------------------------------------


def _letter(state: RegionState, level: AlertLevel, version: IotVersion) -> str:
    if state is RegionState.ALERT:
        if version == 1:
            return "A"
        return "R" if level is AlertLevel.RED else "Y"
    return "P" if state is RegionState.PARTIAL else "N"


def _air_raid_level(projection: Projection, tree: RegionTree, region_id: RegionId) -> AlertLevel:
    """The highest level of the air-raid alerts on the region and above it."""
    level = AlertLevel.YELLOW
    for candidate in (region_id, *tree.ancestors(region_id)):
        alert = projection.find(candidate, ThreatType.AIR_RAID)
        if alert is not None and alert.level is AlertLevel.RED:
            return AlertLevel.RED
        if alert is not None:
            level = alert.level
    return level


def iot_letters(
    projection: Projection, tree: RegionTree, locations: Locations, version: IotVersion
) -> str:
    """Every uid's air-raid letter, at its uid's position; a space where no place is.

    A (v1), R or Y (v2): an air-raid alert on the place or above it; P: on part of it;
    N: none. A place without a region of its own (an unmatched community) is A when the
    district it lies in is, else N: its parts are unknown.
    """
    states = projection.states(tree)
    letters = [" "] * (locations.max_uid + 1)
    for loc in locations:
        letters[loc.uid] = _location_letter(projection, tree, locations, states, loc, version)
    return "".join(letters)


def oblast_letters(
    projection: Projection,
    tree: RegionTree,
    locations: Locations,
    version: IotVersion,
    states: Mapping[RegionId, Mapping[ThreatType, RegionState]] | None = None,
) -> str:
    """`by_oblast(iot_letters(...))` without the other places' letters (MQTT's `oblasts`);
    `states`: the projection's, when the caller has them already."""
    if states is None:
        states = projection.states(tree)
    found = [locations.get(uid) for uid in OBLAST_ORDER]
    return "".join(
        " " if loc is None else _location_letter(projection, tree, locations, states, loc, version)
        for loc in found
    )


def _location_letter(
    projection: Projection,
    tree: RegionTree,
    locations: Locations,
    states: Mapping[RegionId, Mapping[ThreatType, RegionState]],
    loc: Location,
    version: IotVersion,
) -> str:
    own, within = locations.anchor(loc)
    region = own or within
    state = RegionState.CLEAR
    if region is not None:
        state = states.get(region, {}).get(ThreatType.AIR_RAID, RegionState.CLEAR)
        if own is None and state is RegionState.PARTIAL:
            state = RegionState.CLEAR
    level = AlertLevel.RED
    if state is RegionState.ALERT and version == 2 and region is not None:
        level = _air_raid_level(projection, tree, region)
    return _letter(state, level, version)


def by_oblast(letters: str) -> str:
    """The 27 oblast-level letters in alerts.in.ua's documented order."""
    return "".join(letters[uid] for uid in OBLAST_ORDER)


def json_string(text: str) -> bytes:
    """An IoT answer: a JSON string."""
    return orjson.dumps(text)


def error_body(message: str, code: str) -> bytes:
    """alerts.in.ua's error form, {"message": ...}, with our stable code beside it."""
    return orjson.dumps({"message": message, "code": code})
