"""CAP 1.2 messages: every kind the server makes is valid against the official schema,
reads back as the alert it tells, and keeps CAP's rules (dates, references, polygons)."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
import shapely
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import KYIV_CITY, KYIV_OBLAST, LVIV
from tryvoha import i18n
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
from tryvoha.domain.regions import Level, RegionId, RegionTree
from tryvoha.geo.areas import cap_areas
from tryvoha.protocol import cap
from tryvoha.protocol.cap_mapping import TABLE, assess, render_markdown
from tryvoha.server.cap_views import cap_area

T0 = datetime(2024, 11, 13, 4, 47, 12, 345000, tzinfo=UTC)
SETTINGS = cap.CapSettings(sender="alerts@example.gov.ua")
CATALOGUES = {lang: i18n.catalogue(lang) for lang in ("uk", "en")}
HROMADA = RegionId("UA46060250000025047")  # Львівська міська громада
SEVASTOPOL = RegionId("UA85000000000065278")
CAP_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")
DATE_TAGS = ("sent", "effective", "onset", "expires")
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="session")
def schema() -> xmlschema.XMLSchema:
    xsd = resources.files("tryvoha.data.spec").joinpath("cap-1.2.xsd")
    with resources.as_file(xsd) as path:
        return xmlschema.XMLSchema(str(path))


def make_alert(
    region: RegionId = LVIV,
    threat: ThreatType = ThreatType.AIR_RAID,
    level: AlertLevel = AlertLevel.RED,
    threats: tuple[Threat, ...] = (),
    message: Message | None = None,
) -> Alert:
    return Alert(
        AlertId("01jcjh8ftr0000000000000000"),
        region,
        threat,
        level,
        threats,
        message,
        T0,
        T0,
        None,
        "lviv-duty",
    )


def to_second(alert: Alert) -> Alert:
    """What CAP keeps of the alert's times: whole seconds."""

    def s(moment: datetime) -> datetime:
        return moment.replace(microsecond=0)

    return replace(
        alert,
        threats=tuple(replace(t, started_at=s(t.started_at)) for t in alert.threats),
        started_at=s(alert.started_at),
        updated_at=s(alert.updated_at),
        ended_at=None if alert.ended_at is None else s(alert.ended_at),
    )


def message_of(tree: RegionTree, event: Event, earlier: list[Event] | None = None) -> bytes:
    area = cap_area(tree, event.alert.region_id)
    return cap.to_bytes(cap.build(event, earlier or [], area, SETTINGS, CATALOGUES))


def check(schema: xmlschema.XMLSchema, data: bytes, event: Event) -> cap.CapMessage:
    """Valid CAP 1.2, CAP dates, and a round trip back to the event's alert."""
    schema.validate(data)
    text = data.decode()
    for tag in DATE_TAGS:
        for value in re.findall(rf"<{tag}>([^<]*)</{tag}>", text):
            assert CAP_DATE.match(value), (tag, value)
            assert value.endswith("-00:00"), (tag, value)
    message = cap.parse(data)
    event_type, alert = cap.event_of(message, CATALOGUES)
    expected = to_second(event.alert)
    if event.type is EventType.CLEARED:
        expected = replace(expected, message=None)  # an all clear says "all clear"
    assert (event_type, alert) == (event.type, expected)
    assert message.identifier == cap.identifier(event.alert.id, event.seq)
    assert message.sender == SETTINGS.sender
    assert message.sent == event.at.replace(microsecond=0)
    return message


THREATS = (
    Threat(ThreatKind.BALLISTIC_MISSILES, T0, "з півночі"),
    Threat(ThreatKind.DRONES, T0 + timedelta(seconds=30)),
)
MESSAGE = Message("Тривога! Прямуйте в укриття.", "Air raid! Go to a shelter.")


@pytest.mark.parametrize(
    ("threat", "level", "threats", "message"),
    [
        (threat, level, threats, message)
        for threat, level in itertools.product(ThreatType, AlertLevel)
        for threats, message in (((), None), (THREATS, MESSAGE))
    ]
    + [
        (ThreatType.AIR_RAID, AlertLevel.RED, (), Message("Лише українською", None)),
        (ThreatType.AIR_RAID, AlertLevel.RED, (), Message(None, "English only")),
    ]
    + [(ThreatType.AIR_RAID, AlertLevel.RED, (Threat(k, T0),), None) for k in ThreatKind],
)
def test_every_declared_alert_is_valid_cap_and_round_trips(
    schema: xmlschema.XMLSchema,
    tree: RegionTree,
    threat: ThreatType,
    level: AlertLevel,
    threats: tuple[Threat, ...],
    message: Message | None,
) -> None:
    event = Event(
        Seq(7),
        EventType.DECLARED,
        T0,
        "lviv-duty",
        make_alert(LVIV, threat, level, threats, message),
    )
    parsed = check(schema, message_of(tree, event), event)
    assert parsed.msg_type == "Alert" and parsed.references == ()
    languages = [info.language for info in parsed.infos]
    assert languages == (["uk-UA", "en-US"] if message and message.en else ["uk-UA"])
    rating = assess(threat, level, [t.kind for t in threats])
    for info in parsed.infos:
        assert (info.urgency, info.severity, info.certainty, info.response) == (
            rating.urgency,
            rating.severity,
            rating.certainty,
            rating.response,
        )
        assert dict(info.geocodes) == {"KATOTTG": LVIV}
        assert info.instruction and info.headline and info.event


@pytest.mark.parametrize(
    "region", [LVIV, KYIV_CITY, KYIV_OBLAST, HROMADA, RegionId("UA46060000000042587"), SEVASTOPOL]
)
def test_oblasts_raions_hromadas_and_the_city_without_a_boundary(
    schema: xmlschema.XMLSchema, tree: RegionTree, region: RegionId
) -> None:
    event = Event(Seq(3), EventType.DECLARED, T0, "x", make_alert(region, message=MESSAGE))
    parsed = check(schema, message_of(tree, event), event)
    uk, en = parsed.infos
    name = tree.get(region)
    assert uk.area_desc.startswith(name.name_uk) and en.area_desc.startswith(name.name_en)
    assert uk.polygons, "every region has an area to target"


def test_a_nationwide_declare_is_one_valid_message_per_oblast(
    schema: xmlschema.XMLSchema, tree: RegionTree
) -> None:
    oblasts = tree.at_level(Level.OBLAST)
    assert len(oblasts) == 27
    for seq, region in enumerate(oblasts, start=1):
        event = Event(Seq(seq), EventType.DECLARED, T0, "kyiv", make_alert(region.id))
        check(schema, message_of(tree, event), event)


def test_references_across_declare_update_and_clear(
    schema: xmlschema.XMLSchema, tree: RegionTree
) -> None:
    declared = make_alert(threats=THREATS[:1], message=MESSAGE)
    t1, t2 = T0 + timedelta(minutes=3), T0 + timedelta(minutes=40)
    updated = replace(declared, level=AlertLevel.YELLOW, threats=THREATS, updated_at=t1)
    cleared = replace(updated, ended_at=t2, updated_at=t2)
    events = [
        Event(Seq(10), EventType.DECLARED, T0, "lviv-duty", declared),
        Event(Seq(14), EventType.UPDATED, t1, "lviv-duty", updated),
        Event(Seq(31), EventType.CLEARED, t2, "lviv-duty", cleared),
    ]
    messages = [check(schema, message_of(tree, e, events[:i]), e) for i, e in enumerate(events)]
    _, update, clear = messages
    assert [m.msg_type for m in messages] == ["Alert", "Update", "Update"]
    assert update.infos[0].response == "Monitor"  # yellow
    assert clear.infos[0].response == "AllClear" and clear.infos[0].urgency == "Past"
    assert clear.infos[0].expires == t2.replace(microsecond=0) + cap.ALL_CLEAR_EXPIRES
    own = [cap.Reference(m.sender, m.identifier, m.sent) for m in messages]
    assert update.references == (own[0],)
    assert clear.references == (own[0], own[1])
    assert len({m.identifier for m in messages}) == 3
    assert all(m.incidents == declared.id for m in messages)
    text = message_of(tree, events[2], events[:2]).decode()
    assert (
        "<references>alerts@example.gov.ua,01jcjh8ftr0000000000000000.10,2024-11-13T04:47:12-00:00"
        " alerts@example.gov.ua,01jcjh8ftr0000000000000000.14,2024-11-13T04:50:12-00:00</references>"
    ) in text
    # the schema's order: references come before info
    assert text.index("<references>") < text.index("<info>")


def test_earlier_events_must_be_of_the_same_alert_and_before(tree: RegionTree) -> None:
    event = Event(Seq(5), EventType.UPDATED, T0, "x", make_alert())
    other = Event(Seq(4), EventType.DECLARED, T0, "x", replace(make_alert(), id=AlertId("b")))
    later = Event(Seq(6), EventType.DECLARED, T0, "x", make_alert())
    for wrong in (other, later):
        with pytest.raises(ValueError, match="must come before"):
            message_of(tree, event, [wrong])


def test_times_are_utc_with_a_minus_zero_offset_and_whole_seconds() -> None:
    kyiv = timedelta(hours=2)
    from datetime import timezone

    local = datetime(2024, 11, 13, 6, 47, 0, 999999, tzinfo=timezone(kyiv))
    assert cap.cap_time(local) == "2024-11-13T04:47:00-00:00"
    assert cap.parse_cap_time("2024-11-13T06:47:00+02:00") == datetime(
        2024, 11, 13, 4, 47, tzinfo=UTC
    )
    with pytest.raises(cap.CapError):
        cap.parse_cap_time("2024-11-13T04:47:00")


def test_the_largest_messages_stay_under_100_kb(
    schema: xmlschema.XMLSchema, tree: RegionTree
) -> None:
    areas = cap_areas()
    largest = {
        level: sorted(
            (r.id for r in tree.at_level(level) if r.id in areas),
            key=lambda rid: areas[rid].vertices,
        )[-3:]
        for level in (Level.RAION, Level.HROMADA)
    }
    regions = (
        [r.id for r in tree.at_level(Level.OBLAST)] + largest[Level.RAION] + largest[Level.HROMADA]
    )
    longest = Message("Ї" * 2000, "W" * 2000)  # the longest message the API takes
    notes = tuple(Threat(k, T0, "Й" * 500) for k in ThreatKind)
    sizes = {}
    for region in regions:
        alert = make_alert(region, threats=notes, message=longest)
        event = Event(Seq(99), EventType.UPDATED, T0, "x", alert)
        earlier = [Event(Seq(n), EventType.UPDATED, T0, "x", alert) for n in range(1, 21)]
        data = message_of(tree, event, earlier)
        sizes[region] = len(data)
    biggest = max(sizes, key=lambda r: sizes[r])
    assert sizes[biggest] < 100_000, (tree.get(biggest).name_en, sizes[biggest])
    print(f"largest message: {tree.get(biggest).name_en}, {sizes[biggest]} bytes")
    schema.validate(
        message_of(
            tree,
            Event(
                Seq(99),
                EventType.UPDATED,
                T0,
                "x",
                make_alert(biggest, threats=notes, message=longest),
            ),
        )
    )


def test_polygons_are_closed_lat_lon_rings_without_holes(tree: RegionTree) -> None:
    def shape(region: RegionId) -> shapely.Geometry:
        rings = cap_area(tree, region).polygons
        for ring in rings:
            assert len(ring) >= 4 and ring[0] == ring[-1]
            assert all(44 < lat < 53 and 22 < lon < 41 for lat, lon in ring), "lat,lon order"
        polygons = [shapely.Polygon([(lon, lat) for lat, lon in ring]) for ring in rings]
        assert all(p.is_valid for p in polygons)
        return shapely.union_all(polygons)

    kyiv_oblast, kyiv_city, lviv = shape(KYIV_OBLAST), shape(KYIV_CITY), shape(LVIV)
    maidan, bila_tserkva, lviv_centre = (30.5234, 50.4501), (30.1167, 49.7956), (24.0316, 49.8419)
    assert kyiv_city.contains(shapely.Point(maidan))
    assert not kyiv_oblast.contains(shapely.Point(maidan)), "Kyiv city is a hole of the oblast"
    assert kyiv_oblast.contains(shapely.Point(bila_tserkva))
    assert lviv.contains(shapely.Point(lviv_centre))
    text = cap.polygon_text(((50.0, 30.0), (50.5, 30.0), (50.5, 30.5)))
    assert text == "50,30 50.5,30 50.5,30.5 50,30"  # closed even when given open


def test_every_threat_type_and_level_has_a_row_and_the_docs_show_the_table() -> None:
    for threat, level in itertools.product(ThreatType, [*AlertLevel, None]):
        assess(threat, level)
    bases = {(r.threat, r.level) for r in TABLE if r.kind is None}
    assert len(bases) == len(ThreatType) * len(AlertLevel) + 1
    assert render_markdown() in (DOCS / "cap.md").read_text(encoding="utf-8")


def test_what_is_coming_sharpens_the_assessment() -> None:
    base = assess(ThreatType.AIR_RAID, AlertLevel.RED)
    ballistic = assess(ThreatType.AIR_RAID, AlertLevel.RED, [ThreatKind.BALLISTIC_MISSILES])
    assert (base.severity, base.certainty) == ("Severe", "Likely")
    assert (ballistic.severity, ballistic.certainty) == ("Extreme", "Observed")
    drones = assess(
        ThreatType.AIR_RAID, AlertLevel.RED, [ThreatKind.DRONES, ThreatKind.MIG31K_DEPARTURE]
    )
    assert (drones.severity, drones.certainty) == ("Extreme", "Observed")  # the worst of each
    yellow = assess(ThreatType.AIR_RAID, AlertLevel.YELLOW, [ThreatKind.BALLISTIC_MISSILES])
    assert (yellow.urgency, yellow.response) == ("Expected", "Monitor")
    assert assess(ThreatType.NUCLEAR, None).response == "AllClear"


def test_the_parser_refuses_what_is_not_our_cap() -> None:
    with pytest.raises(cap.CapError, match="well-formed"):
        cap.parse(b"<alert")
    with pytest.raises(cap.CapError, match=r"not a CAP 1\.2"):
        cap.parse(b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.1'/>")
    entity = (
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>&x;</identifier></alert>"
    )
    with pytest.raises(cap.CapError):
        cap.parse(entity)  # no external entity is read


# Texts as the API accepts them: stripped, not empty; any character XML can carry.
xml_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff")
api_text = (
    st.text(xml_chars, min_size=1, max_size=60)
    .map(lambda t: "".join(c for c in t if c in "\t\n\r" or c >= " "))
    .map(str.strip)
    .filter(bool)
)
seconds = st.datetimes(
    min_value=datetime(2022, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))


@st.composite
def alerts(draw: st.DrawFn) -> Alert:
    kinds = draw(st.lists(st.sampled_from(list(ThreatKind)), unique=True, max_size=4))
    started = draw(seconds)
    uk, en = draw(st.one_of(st.none(), api_text)), draw(st.one_of(st.none(), api_text))
    return Alert(
        AlertId(draw(st.text("0123456789abcdefghjkmnpqrstvwxyz", min_size=26, max_size=26))),
        draw(st.sampled_from([LVIV, KYIV_CITY, HROMADA])),
        draw(st.sampled_from(list(ThreatType))),
        draw(st.sampled_from(list(AlertLevel))),
        tuple(Threat(k, started, draw(st.one_of(st.none(), api_text))) for k in kinds),
        None if uk is None and en is None else Message(uk, en),
        started,
        started,
        None,
        draw(st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)),
    )


@settings(max_examples=150, deadline=None)
@given(alert=alerts(), kind=st.sampled_from(list(EventType)), seq=st.integers(1, 2**40))
def test_any_alert_round_trips(tree: RegionTree, alert: Alert, kind: EventType, seq: int) -> None:
    at = alert.started_at + timedelta(minutes=5)
    if kind is EventType.CLEARED:
        alert = replace(alert, ended_at=at, updated_at=at)
    elif kind is EventType.UPDATED:
        alert = replace(alert, updated_at=at)
    event = Event(Seq(seq), kind, alert.updated_at, alert.issuer, alert)
    data = message_of(tree, event)
    event_type, back = cap.event_of(cap.parse(data), CATALOGUES)
    expected = alert if kind is not EventType.CLEARED else replace(alert, message=None)
    assert (event_type, back) == (kind, expected)


def test_characters_xml_cannot_carry_do_not_stop_a_message(
    schema: xmlschema.XMLSchema, tree: RegionTree
) -> None:
    alert = make_alert(message=Message("Тривога\x01\x1b!", None))
    event = Event(Seq(1), EventType.DECLARED, T0, "x", alert)
    data = message_of(tree, event)
    schema.validate(data)
    assert cap.parse(data).infos[0].description == "Тривога\ufffd\ufffd!"
