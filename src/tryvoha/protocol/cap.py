"""OASIS CAP 1.2: one message per alert event, built with lxml and read back (no I/O).

An event becomes a message: `alert.declared` an Alert, `alert.updated` an Update, and
`alert.cleared` an Update with responseType AllClear (docs/cap.md says why not Cancel:
in CAP, Cancel withdraws messages that should not have been sent; the end of an air raid
is news of its own, and the way Google Public Alerts asks an event's end to be told).
Updates carry `references` to every earlier message of the same alert, and `incidents`
holds the alert id, so a reader can group them.

A message is a pure function of the event, the earlier events of its alert, the region's
area and the settings: the same inputs give the same bytes, so a message is built once and
served from a cache. The machine-readable alert (threat type, level, threats, issuer) is in
`parameter`s; the parser gives the alert back from them (tested as a round trip). CAP
times have whole seconds, so a round trip gives the alert's times to the second, and an
all clear's description says "all clear", not the issuer's message about the alert, so
its round trip gives the alert without its message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lxml import etree

from tryvoha.domain.alerts import (
    Alert,
    AlertId,
    AlertLevel,
    Message,
    Threat,
    ThreatKind,
    ThreatType,
)
from tryvoha.domain.events import Event, EventType
from tryvoha.domain.regions import RegionId
from tryvoha.i18n import Catalogue
from tryvoha.protocol.cap_mapping import Assessment, ResponseType, assess

NS = "urn:oasis:names:tc:emergency:cap:1.2"
CONTENT_TYPE = "application/cap+xml"
CATEGORY = "Safety"
GEOCODE = "KATOTTG"  # valueName of the region's code in <geocode>
LANGUAGE_TAGS = {"uk": "uk-UA", "en": "en-US"}  # our language -> CAP's <language>
ALL_CLEAR_EXPIRES = timedelta(hours=1)  # an all clear is news for a while, then stale
COORDINATE_DECIMALS = 4  # about 11 m: finer than the simplified boundaries

# <parameter> names: the alert in machine-readable form, the same in every <info>.
P_THREAT_TYPE = "threat_type"
P_LEVEL = "level"
P_THREAT = "threat"  # one per threat: "<kind> <started, CAP time>[ <note>]"
P_ISSUER = "issuer"

_MSG_TYPES = {EventType.DECLARED: "Alert", EventType.UPDATED: "Update", EventType.CLEARED: "Update"}

Ring = tuple[tuple[float, float], ...]  # (lat, lon) pairs, the first repeated at the end


class CapError(ValueError):
    """Bytes that are not a CAP 1.2 message this codec wrote."""


@dataclass(frozen=True, slots=True)
class CapArea:
    region_id: RegionId
    names: Mapping[str, str]  # language -> the region's name, for headlines
    descriptions: Mapping[str, str]  # language -> <areaDesc> (the name and its parents)
    polygons: tuple[Ring, ...] = ()


@dataclass(frozen=True, slots=True)
class CapSettings:
    sender: str  # no spaces or commas: references are "sender,identifier,sent"
    status: str = "Actual"  # Exercise or Test on a server that is not the real thing
    expires_after: timedelta | None = None  # <expires> of Alert and Update messages
    web: str | None = None  # public base URL: <web> points at the region's page


@dataclass(frozen=True, slots=True)
class Reference:
    sender: str
    identifier: str
    sent: datetime

    def __str__(self) -> str:
        return f"{self.sender},{self.identifier},{cap_time(self.sent)}"


@dataclass(frozen=True, slots=True)
class CapInfo:
    language: str
    event: str
    response: str
    urgency: str
    severity: str
    certainty: str
    onset: datetime | None
    expires: datetime | None
    headline: str
    description: str
    instruction: str
    parameters: tuple[tuple[str, str], ...]
    area_desc: str
    polygons: tuple[Ring, ...]
    geocodes: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class CapMessage:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    references: tuple[Reference, ...]
    incidents: str | None
    infos: tuple[CapInfo, ...]


# -- times and names ----------------------------------------------------------------------


def cap_time(moment: datetime) -> str:
    """CAP's form: whole seconds, UTC written -00:00 (never Z): 2024-11-13T04:47:00-00:00."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


def parse_cap_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CapError(f"'{text}' is not a CAP time") from None
    if moment.tzinfo is None:
        raise CapError(f"'{text}' has no time zone")
    return moment.astimezone(UTC)


def identifier(alert_id: str, seq: int) -> str:
    """Unique and stable per event: the alert's id and the event's place in the log."""
    return f"{alert_id}.{seq}"


def references(sender: str, earlier: Sequence[Event]) -> tuple[Reference, ...]:
    return tuple(Reference(sender, identifier(e.alert.id, e.seq), e.at) for e in earlier)


def languages(alert: Alert) -> tuple[str, ...]:
    """Ukrainian always; English when the issuer wrote an English message."""
    return ("uk", "en") if alert.message is not None and alert.message.en else ("uk",)


def _mood(event_type: EventType, level: AlertLevel) -> str:
    return "clear" if event_type is EventType.CLEARED else level.value


def headline(
    catalogue: Catalogue, event_type: EventType, threat: ThreatType, level: AlertLevel, area: str
) -> str:
    return catalogue(
        f"cap.headline.{_mood(event_type, level)}", threat=catalogue(f"threat.{threat}"), area=area
    )


def default_description(
    catalogue: Catalogue,
    event_type: EventType,
    threat: ThreatType,
    level: AlertLevel,
    kinds: Sequence[ThreatKind],
) -> str:
    """What <description> says when the issuer wrote no message in this language."""
    text = catalogue(
        f"cap.description.{_mood(event_type, level)}", threat=catalogue(f"threat.{threat}")
    )
    if kinds and event_type is not EventType.CLEARED:
        named = ", ".join(catalogue(f"kind.{k}") for k in kinds)
        text += " " + catalogue("cap.threats", kinds=named)
    return text


def _issuer_text(message: Message | None, lang: str) -> str | None:
    if message is None:
        return None
    return message.uk if lang == "uk" else message.en


# -- building -----------------------------------------------------------------------------


# Characters XML 1.0 cannot carry (most C0 controls, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """Text as XML can hold it: a character it cannot carry becomes U+FFFD, so an issuer's
    stray control character cannot make a message impossible to write."""
    return _NOT_XML.sub("\ufffd", text)


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, f"{{{NS}}}{tag}")
    if text is not None:
        child.text = xml_text(text)
    return child


def _pair(parent: etree._Element, tag: str, name: str, value: str) -> None:
    element = _sub(parent, tag)
    _sub(element, "valueName", name)
    _sub(element, "value", value)


def _number(value: float) -> str:
    text = f"{value:.{COORDINATE_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def polygon_text(ring: Ring) -> str:
    """CAP's polygon: space-separated "lat,lon" pairs, the first pair again at the end."""
    points = [f"{_number(lat)},{_number(lon)}" for lat, lon in ring]
    if points and points[0] != points[-1]:
        points.append(points[0])
    return " ".join(points)


def _parameters(alert: Alert) -> list[tuple[str, str]]:
    out = [(P_THREAT_TYPE, alert.threat.value), (P_LEVEL, alert.level.value)]
    for t in alert.threats:
        value = f"{t.kind.value} {cap_time(t.started_at)}"
        out.append((P_THREAT, value if t.note is None else f"{value} {t.note}"))
    out.append((P_ISSUER, alert.issuer))
    return out


def _info(
    root: etree._Element,
    lang: str,
    event: Event,
    area: CapArea,
    settings: CapSettings,
    catalogue: Catalogue,
) -> None:
    alert = event.alert
    ended = event.type is EventType.CLEARED
    kinds = [t.kind for t in alert.threats]
    rating: Assessment = assess(alert.threat, None if ended else alert.level, kinds)
    info = _sub(root, "info")
    _sub(info, "language", LANGUAGE_TAGS[lang])
    _sub(info, "category", CATEGORY)
    _sub(info, "event", catalogue(f"threat.{alert.threat}"))
    _sub(info, "responseType", rating.response.value)
    _sub(info, "urgency", rating.urgency.value)
    _sub(info, "severity", rating.severity.value)
    _sub(info, "certainty", rating.certainty.value)
    _sub(info, "effective", cap_time(event.at))
    _sub(info, "onset", cap_time(alert.started_at))
    expires = ALL_CLEAR_EXPIRES if ended else settings.expires_after
    if expires is not None:
        _sub(info, "expires", cap_time(event.at + expires))
    _sub(
        info,
        "headline",
        headline(catalogue, event.type, alert.threat, alert.level, area.names[lang]),
    )
    # An all clear says so: the issuer's message was about the alert, and stays in the
    # messages this one references.
    text = None if ended else _issuer_text(alert.message, lang)
    if text is None:
        text = default_description(catalogue, event.type, alert.threat, alert.level, kinds)
    _sub(info, "description", text)
    _sub(info, "instruction", catalogue(f"cap.instruction.{_mood(event.type, alert.level)}"))
    if settings.web:
        _sub(info, "web", f"{settings.web.rstrip('/')}/region/{alert.region_id}")
    for name, value in _parameters(alert):
        _pair(info, "parameter", name, value)
    where = _sub(info, "area")
    _sub(where, "areaDesc", area.descriptions[lang])
    for ring in area.polygons:
        _sub(where, "polygon", polygon_text(ring))
    _pair(where, "geocode", GEOCODE, str(area.region_id))


def build(
    event: Event,
    earlier: Sequence[Event],
    area: CapArea,
    settings: CapSettings,
    catalogues: Mapping[str, Catalogue],
) -> etree._Element:
    """The message of `event`. `earlier`: the alert's events before it, oldest first."""
    alert = event.alert
    if any(e.alert.id != alert.id or e.seq >= event.seq for e in earlier):
        raise ValueError(f"earlier events of alert {alert.id} must come before {event.seq}")
    root = etree.Element(f"{{{NS}}}alert", nsmap={None: NS})  # type: ignore[dict-item]
    _sub(root, "identifier", identifier(alert.id, event.seq))
    _sub(root, "sender", settings.sender)
    _sub(root, "sent", cap_time(event.at))
    _sub(root, "status", settings.status)
    _sub(root, "msgType", _MSG_TYPES[event.type])
    _sub(root, "scope", "Public")
    if earlier:
        _sub(root, "references", " ".join(str(r) for r in references(settings.sender, earlier)))
    _sub(root, "incidents", alert.id)
    for lang in languages(alert):
        _info(root, lang, event, area, settings, catalogues[lang])
    return root


def to_bytes(root: etree._Element, pretty: bool = True) -> bytes:
    """A signed message is written exactly as signed (indenting it would break the
    signature): sign `parse_xml(to_bytes(root))`, then write it with pretty=False."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=pretty)


# -- reading ------------------------------------------------------------------------------

# No entities, no DTDs, no network: a message from elsewhere cannot make us read files.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


def parse_xml(data: bytes) -> etree._Element:
    try:
        return etree.fromstring(data, parser=_PARSER)
    except etree.XMLSyntaxError as e:
        raise CapError(f"not well-formed XML: {e}") from None


def _text(parent: etree._Element, tag: str, required: bool = True) -> str | None:
    child = parent.find(f"{{{NS}}}{tag}")
    if child is None or child.text is None:
        if required:
            raise CapError(f"<{tag}> is missing")
        return None
    return child.text


def _req(parent: etree._Element, tag: str) -> str:
    text = _text(parent, tag)
    assert text is not None
    return text


def _pairs(parent: etree._Element, tag: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        (_req(el, "valueName"), _text(el, "value", required=False) or "")
        for el in parent.findall(f"{{{NS}}}{tag}")
    )


def parse_polygon(text: str) -> Ring:
    try:
        return tuple((float(lat), float(lon)) for lat, lon in (p.split(",") for p in text.split()))
    except ValueError:
        raise CapError(f"'{text[:40]}...' is not a CAP polygon") from None


def _parse_reference(text: str) -> Reference:
    parts = text.split(",")
    if len(parts) != 3:
        raise CapError(f"reference '{text}' is not sender,identifier,sent")
    return Reference(parts[0], parts[1], parse_cap_time(parts[2]))


def _parse_info(info: etree._Element) -> CapInfo:
    area = info.find(f"{{{NS}}}area")
    if area is None:
        raise CapError("<info> has no <area>")
    onset = _text(info, "onset", required=False)
    expires = _text(info, "expires", required=False)
    return CapInfo(
        language=_text(info, "language", required=False) or "en-US",
        event=_req(info, "event"),
        response=_text(info, "responseType", required=False) or "",
        urgency=_req(info, "urgency"),
        severity=_req(info, "severity"),
        certainty=_req(info, "certainty"),
        onset=None if onset is None else parse_cap_time(onset),
        expires=None if expires is None else parse_cap_time(expires),
        headline=_text(info, "headline", required=False) or "",
        description=_text(info, "description", required=False) or "",
        instruction=_text(info, "instruction", required=False) or "",
        parameters=_pairs(info, "parameter"),
        area_desc=_req(area, "areaDesc"),
        polygons=tuple(parse_polygon(p.text or "") for p in area.findall(f"{{{NS}}}polygon")),
        geocodes=_pairs(area, "geocode"),
    )


def parse(data: bytes | etree._Element) -> CapMessage:
    root = parse_xml(data) if isinstance(data, bytes) else data
    if root.tag != f"{{{NS}}}alert":
        raise CapError(f"the root element is {root.tag}, not a CAP 1.2 <alert>")
    refs = _text(root, "references", required=False)
    return CapMessage(
        identifier=_req(root, "identifier"),
        sender=_req(root, "sender"),
        sent=parse_cap_time(_req(root, "sent")),
        status=_req(root, "status"),
        msg_type=_req(root, "msgType"),
        references=tuple(_parse_reference(r) for r in (refs or "").split()),
        incidents=_text(root, "incidents", required=False),
        infos=tuple(_parse_info(i) for i in root.findall(f"{{{NS}}}info")),
    )


def _parse_threat(value: str) -> Threat:
    kind, _, rest = value.partition(" ")
    started, _, note = rest.partition(" ")
    try:
        return Threat(ThreatKind(kind), parse_cap_time(started), note or None)
    except ValueError:
        raise CapError(f"threat parameter '{value}' is not '<kind> <time>[ <note>]'") from None


def event_of(message: CapMessage, catalogues: Mapping[str, Catalogue]) -> tuple[EventType, Alert]:
    """The event type and the alert (as of the message) that a message of ours tells."""
    if not message.infos or message.incidents is None:
        raise CapError("a tryvoha message has <incidents> and at least one <info>")
    first = message.infos[0]
    params: dict[str, list[str]] = {}
    for name, value in first.parameters:
        params.setdefault(name, []).append(value)
    try:
        threat = ThreatType(params[P_THREAT_TYPE][0])
        level = AlertLevel(params[P_LEVEL][0])
        issuer = params[P_ISSUER][0]
        region = dict(first.geocodes)[GEOCODE]
    except (KeyError, ValueError) as e:
        raise CapError(f"a parameter or the {GEOCODE} geocode is missing or wrong: {e}") from None
    threats = tuple(_parse_threat(v) for v in params.get(P_THREAT, []))
    if message.msg_type == "Alert":
        event_type = EventType.DECLARED
    elif first.response == ResponseType.ALL_CLEAR:
        event_type = EventType.CLEARED
    else:
        event_type = EventType.UPDATED
    texts: dict[str, str | None] = {"uk": None, "en": None}
    tags = {tag: lang for lang, tag in LANGUAGE_TAGS.items()}
    kinds = [t.kind for t in threats]
    for info in message.infos:
        lang = tags.get(info.language)
        if lang is None:
            continue
        fallback = default_description(catalogues[lang], event_type, threat, level, kinds)
        if event_type is not EventType.CLEARED and info.description != fallback:
            texts[lang] = info.description
    alert = Alert(
        id=AlertId(message.incidents),
        region_id=RegionId(region),
        threat=threat,
        level=level,
        threats=threats,
        message=None if texts == {"uk": None, "en": None} else Message(texts["uk"], texts["en"]),
        started_at=first.onset or message.sent,
        updated_at=message.sent,
        ended_at=message.sent if event_type is EventType.CLEARED else None,
        issuer=issuer,
    )
    return event_type, alert
