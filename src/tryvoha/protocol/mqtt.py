"""MQTT's wire form, version 1: the topics tryvoha publishes and their payloads.

Pure functions, no I/O: the channel (`tryvoha.channels.mqtt`) decides when to publish
what; this module says what the bytes are. Documented for device makers in
docs/devices.md, which is the contract: a field is added, never renamed or removed, within
version 1; anything else is version 2 on topics of its own (`{prefix}/v2/...`).

- `{prefix}/v1/regions/{region_id}/state`, retained: a region's effective state per threat
  type (the projection's rule, `Projection.bearings`) with the level, threats and start
  of the alerts behind it, and `seq`: the payload is the region's state as of the event
  log's `seq` (a payload with a higher seq is never older). A region that clears gets an
  explicit clear payload, never an empty retained message.
- `{prefix}/v1/oblasts`, retained: the 27 oblast-level letters of alerts.in.ua's IoT
  string, in its order (`compat_alerts_in_ua`: A alert, P partial, N clear; air raid).
- `{prefix}/v1/oblasts.json`, retained: the same with the regions, levels and `seq`.
- `{prefix}/v1/events`: each event's JSON, the bytes the SSE stream sends.
- `{prefix}/v1/status`, retained: `online`, and the publisher's last will `offline`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from tryvoha.domain.alerts import Alert, AlertLevel, ThreatKind, ThreatType
from tryvoha.domain.events import Seq
from tryvoha.domain.projection import Bearings, Projection, RegionState
from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.protocol import compat_alerts_in_ua as aiu
from tryvoha.protocol.compat_locations import Locations
from tryvoha.protocol.wire import format_time

VERSION = 1
QOS = 1  # every message: at least once (a repeat has the same seq)
ONLINE = b"online"
OFFLINE = b"offline"
PREFIX_PATTERN = r"^[^/#+\x00\s]+(/[^/#+\x00\s]+)*$"  # no wildcards, no empty level
_PREFIX = re.compile(PREFIX_PATTERN)
_THREAT_KEYS = tuple((t, t.value) for t in ThreatType)
_KIND_ORDER = {kind: i for i, kind in enumerate(ThreatKind)}
# oblasts.json: the alerts.in.ua letters spelled out
_STATE_OF_LETTER = {"A": "alert", "P": "partial", "N": "clear"}
_LEVEL_OF_LETTER = {"R": "red", "Y": "yellow"}

JSON = dict[str, Any]


def valid_prefix(prefix: str) -> bool:
    """A topic prefix: levels without wildcards or spaces, no empty level."""
    return bool(_PREFIX.fullmatch(prefix)) and len(prefix.encode()) <= 200


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic of one publisher, under its prefix (`--mqtt-prefix`)."""

    prefix: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/v{VERSION}"

    def region(self, region_id: str) -> str:
        return f"{self.base}/regions/{region_id}/state"

    @property
    def regions(self) -> str:
        """The filter of every region's state topic."""
        return f"{self.base}/regions/+/state"

    def region_of(self, topic: str) -> str | None:
        """The region id a state topic names; None for another topic."""
        head, tail = f"{self.base}/regions/", "/state"
        if not (topic.startswith(head) and topic.endswith(tail)):
            return None
        region_id = topic[len(head) : -len(tail)]
        return region_id if region_id and "/" not in region_id else None

    @property
    def oblasts(self) -> str:
        return f"{self.base}/oblasts"

    @property
    def oblasts_json(self) -> str:
        return f"{self.base}/oblasts.json"

    @property
    def events(self) -> str:
        return f"{self.base}/events"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    def sync(self, client_id: str) -> str:
        """A publisher's own marker topic: it reads what the broker holds up to it."""
        return f"{self.base}/sync/{client_id}"


# -- a region's state -------------------------------------------------------------------


def _behind(bearings: Bearings, region_id: RegionId) -> list[Alert]:
    """The alerts behind a region's state: those over it when there are any (it is under
    alert for some threat type), else those below it (it is in part)."""
    return bearings.over.get(region_id) or bearings.under.get(region_id) or []


class Bodies:
    """The region payload bodies (without seq) of one state of the projection. Each
    distinct body is made once: under a nationwide alert ~1,900 regions share a few dozen
    (an oblast's raions and hromadas have the same alerts over them)."""

    def __init__(self, bearings: Bearings) -> None:
        self.bearings = bearings
        self._made: dict[object, tuple[JSON, bytes]] = {}  # the body after region_id, encoded

    def _rest(self, region_id: RegionId) -> tuple[JSON, bytes]:
        per_threat = self.bearings.states.get(region_id, {})
        alerts = _behind(self.bearings, region_id)
        key = (tuple(per_threat.items()), tuple(a.id for a in alerts))
        made = self._made.get(key)
        if made is None:
            rest = _rest_of_body(per_threat, alerts)
            made = self._made[key] = (rest, orjson.dumps(rest))
        return made

    def __call__(self, region_id: RegionId) -> JSON:
        """A region's state payload without its seq: every threat type's state; the
        highest level, the threats (what is coming) and the earliest start of the alerts
        behind it (null and [] when it is clear)."""
        return {"region_id": region_id, **self._rest(region_id)[0]}

    def payload(self, region_id: RegionId, seq: int) -> bytes:
        """`with_seq(self(region_id), seq)`, from the encoded rest (the same bytes)."""
        rest = self._rest(region_id)[1]
        return b'{"region_id":%b,"seq":%d,%b' % (orjson.dumps(region_id), seq, rest[1:])


def _rest_of_body(per_threat: dict[ThreatType, RegionState], alerts: list[Alert]) -> JSON:
    level: AlertLevel | None = None
    kinds: set[ThreatKind] = set()
    for alert in alerts:
        if level is None or alert.level.outranks(level):
            level = alert.level
        kinds.update(t.kind for t in alert.threats)
    since = min((a.started_at for a in alerts), default=None)
    return {
        "states": {key: per_threat.get(t, RegionState.CLEAR).value for t, key in _THREAT_KEYS},
        "level": None if level is None else level.value,
        "threats": [k.value for k in sorted(kinds, key=_KIND_ORDER.__getitem__)],
        "since": None if since is None else format_time(since),
    }


def region_body(bearings: Bearings, region_id: RegionId) -> JSON:
    """One region's payload body (see `Bodies`)."""
    return Bodies(bearings)(region_id)


def with_seq(body: JSON, seq: int) -> bytes:
    """A payload: the body with its seq, after its first field (region_id or oblasts)."""
    items = list(body.items())
    return orjson.dumps(dict([items[0], ("seq", seq), *items[1:]]))


def read_payload(payload: bytes) -> tuple[JSON, Seq] | None:
    """A JSON payload of ours as (body without seq, seq); None when it is not one (empty,
    not JSON, no integer seq): a payload the publisher overwrites."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    seq = data.pop("seq", None)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return None
    return data, Seq(seq)


def non_clear(body: JSON) -> dict[str, str]:
    """A region payload's states that are not clear: what GET /api/v1/state lists."""
    return {t: s for t, s in body["states"].items() if s != RegionState.CLEAR.value}


# -- the oblasts ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OblastOrder:
    """The alerts.in.ua IoT order of the oblast-level regions: uids and our region ids."""

    uids: tuple[int, ...]
    region_ids: tuple[RegionId | None, ...]

    @classmethod
    def of(cls, locations: Locations) -> OblastOrder:
        ids: list[RegionId | None] = []
        for uid in aiu.OBLAST_ORDER:
            loc = locations.get(uid)
            ids.append(None if loc is None else locations.anchor(loc)[0])
        return cls(aiu.OBLAST_ORDER, tuple(ids))


def oblasts_string(
    projection: Projection,
    tree: RegionTree,
    locations: Locations,
    states: Mapping[RegionId, Mapping[ThreatType, RegionState]] | None = None,
) -> str:
    """The `oblasts` payload: alerts.in.ua's air-raid letters by oblast (A, P, N)."""
    return aiu.oblast_letters(projection, tree, locations, 1, states)


def oblasts_body(
    projection: Projection,
    tree: RegionTree,
    locations: Locations,
    order: OblastOrder,
    states: Mapping[RegionId, Mapping[ThreatType, RegionState]] | None = None,
) -> JSON:
    """`oblasts.json` without its seq: the letters, and per oblast (in the same order) its
    air-raid state and the level of the air-raid alert on it or above it (alerts.in.ua's
    second IoT version: R red, Y yellow)."""
    if states is None:
        states = projection.states(tree)
    letters = oblasts_string(projection, tree, locations, states)
    levels = aiu.oblast_letters(projection, tree, locations, 2, states)
    return {
        "oblasts": letters,
        "regions": [
            {
                "region_id": region_id,
                "uid": uid,
                "state": _STATE_OF_LETTER[letter],
                "level": _LEVEL_OF_LETTER.get(level),
            }
            for uid, region_id, letter, level in zip(
                order.uids, order.region_ids, letters, levels, strict=True
            )
        ],
    }


# -- the broker's address ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """`mqtt://[user:password@]host[:port]` (1883 by default) or `mqtts://...` (TLS, 8883)."""

    tls: bool
    host: str
    port: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, text: str) -> BrokerUrl:
        """ValueError naming what is wrong, never quoting the password."""
        parts = urlsplit(text.strip())
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(
                "expected mqtt://host:port, mqtt://user:password@host:port or mqtts://..."
            )
        try:
            port = parts.port
        except ValueError:
            raise ValueError("the port must be a number from 1 to 65535") from None
        if not parts.hostname:
            raise ValueError("the broker's host is missing")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("a broker's address has no path or query")
        tls = parts.scheme == "mqtts"
        return cls(
            tls=tls,
            host=parts.hostname,
            port=port or (8883 if tls else 1883),
            username=None if parts.username is None else unquote(parts.username),
            password=None if parts.password is None else unquote(parts.password),
        )

    def __str__(self) -> str:
        """The address without its credentials, for logs."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"
