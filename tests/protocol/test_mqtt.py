"""MQTT's wire form (version 1), byte for byte and with no broker: a region's payload says
what GET /api/v1/state says, the `oblasts` string is alerts.in.ua's, payloads read back,
the topics and the broker's address parse as documented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import KYIV_CITY, LVIV
from tryvoha.data import compat_locations, region_tree
from tryvoha.domain.alerts import Alert, AlertId, AlertLevel, Threat, ThreatKind, ThreatType
from tryvoha.domain.events import Event, EventType, Seq
from tryvoha.domain.projection import Projection
from tryvoha.domain.regions import Level, RegionId
from tryvoha.protocol import compat_alerts_in_ua as aiu
from tryvoha.protocol import mqtt as wire

T0 = datetime(2024, 11, 13, 4, 47, tzinfo=UTC)
TREE = region_tree()
LOCATIONS = compat_locations()
LVIVSKYI_RAION = RegionId("UA46060000000042587")
HROMADAS = [r.id for r in TREE.at_level(Level.HROMADA)]


def alert(
    region: RegionId,
    n: int,
    threat: ThreatType = ThreatType.AIR_RAID,
    level: AlertLevel = AlertLevel.RED,
    kinds: tuple[ThreatKind, ...] = (),
    minutes: int = 0,
) -> Alert:
    start = T0 + timedelta(minutes=minutes)
    return Alert(
        id=AlertId(f"a{n:025d}"),
        region_id=region,
        threat=threat,
        level=level,
        threats=tuple(Threat(k, start) for k in kinds),
        message=None,
        started_at=start,
        updated_at=start,
        ended_at=None,
        issuer="duty",
    )


def projection_of(*alerts: Alert) -> Projection:
    projection = Projection()
    for seq, a in enumerate(alerts, start=1):
        projection.apply(Event(Seq(seq), EventType.DECLARED, T0, "duty", a))
    return projection


def test_a_region_under_alert_says_so_with_the_alerts_behind_it() -> None:
    projection = projection_of(
        alert(LVIV, 1, kinds=(ThreatKind.DRONES,), minutes=5),
        alert(LVIVSKYI_RAION, 2, ThreatType.ARTILLERY_SHELLING, AlertLevel.YELLOW, minutes=1),
    )
    bearings = projection.bearings(TREE)
    raion = wire.region_body(bearings, LVIVSKYI_RAION)
    assert raion == {
        "region_id": LVIVSKYI_RAION,
        "states": {
            "air_raid": "alert",  # from the oblast above it
            "artillery_shelling": "alert",
            "urban_fights": "clear",
            "chemical": "clear",
            "nuclear": "clear",
        },
        "level": "red",  # the highest of the alerts over it
        "threats": ["drones"],
        "since": "2024-11-13T04:48:00.000Z",  # the earliest of them
    }
    oblast = wire.region_body(bearings, LVIV)
    assert oblast["states"]["artillery_shelling"] == "partial"
    assert (oblast["level"], oblast["since"]) == ("red", "2024-11-13T04:52:00.000Z")
    country = wire.region_body(bearings, TREE.get("UA").id)
    assert country["states"]["air_raid"] == "partial"  # only alerts below it: those behind it
    assert (country["level"], country["since"]) == ("red", "2024-11-13T04:48:00.000Z")


def test_a_clear_region_has_an_explicit_clear_payload() -> None:
    body = wire.region_body(projection_of(alert(LVIV, 1)).bearings(TREE), KYIV_CITY)
    assert body == {
        "region_id": KYIV_CITY,
        "states": dict.fromkeys([t.value for t in ThreatType], "clear"),
        "level": None,
        "threats": [],
        "since": None,
    }
    payload = wire.with_seq(body, 7)
    assert payload.startswith(b'{"region_id":"UA80000000000093317","seq":7,"states":')
    assert wire.read_payload(payload) == (body, 7)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([r.id for r in TREE if r.level is not Level.HROMADA] + HROMADAS[::40]),
            st.sampled_from(list(ThreatType)),
            st.sampled_from(list(AlertLevel)),
        ),
        max_size=12,
        unique_by=lambda t: (t[0], t[1]),
    )
)
def test_every_payload_says_what_the_state_api_says(
    chosen: list[tuple[RegionId, ThreatType, AlertLevel]],
) -> None:
    projection = projection_of(
        *(alert(r, n, t, lv, minutes=n) for n, (r, t, lv) in enumerate(chosen))
    )
    states = projection.states(TREE)  # the rule GET /api/v1/state answers with
    bearings = projection.bearings(TREE)
    for region in [*states, LVIV, KYIV_CITY, *HROMADAS[::300]]:
        body = wire.region_body(bearings, region)
        expected = {t.value: s.value for t, s in states.get(region, {}).items()}
        assert wire.non_clear(body) == expected
        assert (body["level"] is None) == (not expected)
        assert orjson.loads(wire.with_seq(body, 1))["seq"] == 1


def test_a_region_payload_is_made_from_cached_bytes_as_from_its_body() -> None:
    projection = projection_of(
        alert(LVIV, 1, kinds=(ThreatKind.DRONES, ThreatKind.BALLISTIC_MISSILES)),
        alert(HROMADAS[3], 2, ThreatType.NUCLEAR, AlertLevel.YELLOW),
    )
    bodies = wire.Bodies(projection.bearings(TREE))
    for region in (LVIV, LVIVSKYI_RAION, KYIV_CITY, HROMADAS[3], TREE.get("UA").id):
        assert bodies.payload(region, 42) == wire.with_seq(bodies(region), 42)


@given(st.binary(max_size=200))
def test_any_bytes_read_as_a_payload_or_none(raw: bytes) -> None:
    found = wire.read_payload(raw)
    assert found is None or isinstance(found[1], int)


@pytest.mark.parametrize(
    "raw", [b"", b"null", b"[1]", b'{"seq": "3"}', b'{"seq": -1}', b'{"seq": true}', b"\xff"]
)
def test_what_is_not_one_of_our_payloads_reads_as_none(raw: bytes) -> None:
    assert wire.read_payload(raw) is None


def test_the_oblasts_string_is_alerts_in_ua_iot_string_by_oblast() -> None:
    projection = projection_of(
        alert(LVIV, 1), alert(LVIVSKYI_RAION, 2, level=AlertLevel.YELLOW), alert(HROMADAS[0], 3)
    )
    order = wire.OblastOrder.of(LOCATIONS)
    string = wire.oblasts_string(projection, TREE, LOCATIONS)
    assert string == aiu.by_oblast(aiu.iot_letters(projection, TREE, LOCATIONS, 1))
    assert len(string) == 27 and set(string) <= {"A", "P", "N"}
    body = wire.oblasts_body(projection, TREE, LOCATIONS, order)
    assert body["oblasts"] == string
    regions = body["regions"]
    assert [r["uid"] for r in regions] == list(aiu.OBLAST_ORDER)
    assert {r["region_id"] for r in regions} == {r.id for r in TREE.at_level(Level.OBLAST)}
    lviv = next(r for r in regions if r["region_id"] == LVIV)
    assert lviv == {"region_id": LVIV, "uid": 27, "state": "alert", "level": "red"}
    hromada_oblast = TREE.oblast_of(HROMADAS[0])
    other = next(r for r in regions if r["region_id"] == hromada_oblast)
    assert (other["state"], other["level"]) == ("partial", None)
    assert string[aiu.OBLAST_ORDER.index(27)] == "A"


def test_topics_are_under_the_prefix_and_version() -> None:
    topics = wire.Topics("alerts/ua")
    assert topics.region(LVIV) == f"alerts/ua/v1/regions/{LVIV}/state"
    assert topics.regions == "alerts/ua/v1/regions/+/state"
    assert topics.region_of(topics.region(LVIV)) == LVIV
    for other in (topics.oblasts, topics.status, "alerts/ua/v1/regions/a/b/state", "x/state"):
        assert topics.region_of(other) is None
    assert (topics.oblasts, topics.oblasts_json, topics.events, topics.status) == (
        "alerts/ua/v1/oblasts",
        "alerts/ua/v1/oblasts.json",
        "alerts/ua/v1/events",
        "alerts/ua/v1/status",
    )


@pytest.mark.parametrize(
    ("prefix", "valid"),
    [
        ("tryvoha", True),
        ("alerts/ua", True),
        ("", False),
        ("/tryvoha", False),
        ("tryvoha/", False),
        ("a//b", False),
        ("a/+", False),
        ("a/#", False),
        ("a b", False),
    ],
)
def test_a_prefix_has_no_wildcards_or_empty_levels(prefix: str, valid: bool) -> None:
    assert wire.valid_prefix(prefix) is valid


def test_broker_addresses_parse_and_print_without_credentials() -> None:
    url = wire.BrokerUrl.parse("mqtts://duty:p%40ss@broker.example.org")
    assert (url.tls, url.host, url.port, url.username, url.password) == (
        True,
        "broker.example.org",
        8883,
        "duty",
        "p@ss",
    )
    assert str(url) == "mqtts://broker.example.org:8883"
    assert wire.BrokerUrl.parse("mqtt://127.0.0.1:1884").port == 1884
    assert wire.BrokerUrl.parse("mqtt://[::1]").port == 1883
    assert str(wire.BrokerUrl.parse("mqtt://[::1]")) == "mqtt://[::1]:1883"
    for bad in ("http://x", "mqtt://", "mqtt://x:0x", "mqtt://x/topic", "mqtt://u:secret@x:70000"):
        with pytest.raises(ValueError) as e:
            wire.BrokerUrl.parse(bad)
        assert "secret" not in str(e.value)
