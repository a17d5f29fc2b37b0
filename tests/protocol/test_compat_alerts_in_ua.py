"""alerts.in.ua's wire form, checked against its own client's parsers (alerts-in-ua 0.4):
the IoT strings' order and letters, the alert fields and times, Last-Modified."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts_in_ua.air_raid_alert_oblast_statuses import AirRaidAlertOblastStatuses
from alerts_in_ua.alerts import Alerts
from alerts_in_ua.location_uid_resolver import LocationUidResolver

from tests.conftest import KYIV_CITY, LVIV
from tryvoha.data import compat_locations, region_tree
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
from tryvoha.domain.projection import Projection
from tryvoha.domain.regions import RegionId
from tryvoha.protocol import compat_alerts_in_ua as aiu

T0 = datetime(2024, 11, 13, 4, 47, tzinfo=UTC)
LVIVSKYI_RAION = RegionId("UA46060000000042587")  # uid 90
AHRONOMICHNA = RegionId("UA05020010000053508")  # uid 154, in Vinnytskyi raion (36), oblast 4
VINNYTSIA = RegionId("UA05000000000010236")


def alert(region: RegionId, n: int, level: AlertLevel = AlertLevel.RED, **kw: object) -> Alert:
    fields: dict[str, object] = {
        "id": AlertId(f"a{n:025d}"),
        "region_id": region,
        "threat": ThreatType.AIR_RAID,
        "level": level,
        "threats": (),
        "message": None,
        "started_at": T0,
        "updated_at": T0,
        "ended_at": None,
        "issuer": "duty",
    }
    fields.update(kw)
    return Alert(**fields)  # type: ignore[arg-type]


def projection_of(*alerts: Alert) -> Projection:
    projection = Projection()
    for seq, a in enumerate(alerts, start=1):
        projection.apply(Event(Seq(seq), EventType.DECLARED, T0, "duty", a))
    return projection


def letters(projection: Projection, version: aiu.IotVersion = 1) -> str:
    return aiu.iot_letters(projection, region_tree(), compat_locations(), version)


def test_the_oblast_order_is_the_clients() -> None:
    locations = compat_locations()
    titles = [locations.get(uid).title for uid in aiu.OBLAST_ORDER]  # type: ignore[union-attr]
    assert titles == AirRaidAlertOblastStatuses.LOCATIONS


def test_the_location_table_agrees_with_the_clients_uids() -> None:
    locations = compat_locations()
    for uid, title in LocationUidResolver().uid_to_location.items():
        loc = locations.get(uid)
        assert loc is not None and loc.region_id is not None, uid
        assert loc.title == title, uid


def test_iot_letters_alert_partial_and_none() -> None:
    quiet = letters(Projection())
    assert set(quiet) == {"N", " "}
    assert aiu.by_oblast(quiet) == "N" * 27

    raion = letters(projection_of(alert(LVIVSKYI_RAION, 1)))
    assert raion[27] == "P"  # Lviv oblast: part of it
    assert raion[90] == "A"  # the raion itself
    assert raion[88] == "N"  # another raion of the oblast
    assert raion[31] == "N"
    statuses = AirRaidAlertOblastStatuses(aiu.by_oblast(raion))
    assert [s.location_title for s in statuses.get_partly_active_alert_oblasts()] == [
        "Львівська область"
    ]

    oblast = letters(projection_of(alert(LVIV, 1)))
    assert oblast[27] == "A" and oblast[90] == "A" and oblast[88] == "A"  # and all below it
    hromada = letters(projection_of(alert(AHRONOMICHNA, 1)))
    assert (hromada[154], hromada[36], hromada[4], hromada[155]) == ("A", "P", "P", "N")


def test_iot_v2_gives_the_level_and_ignores_other_threats() -> None:
    projection = projection_of(
        alert(LVIV, 1, AlertLevel.YELLOW),
        alert(KYIV_CITY, 2),
        alert(VINNYTSIA, 3, threat=ThreatType.ARTILLERY_SHELLING),
    )
    v2 = aiu.by_oblast(letters(projection, 2))
    statuses = AirRaidAlertOblastStatuses(v2)
    assert [s.location_title for s in statuses.get_yellow_alert_oblasts()] == ["Львівська область"]
    assert [s.location_title for s in statuses.get_red_alert_oblasts()] == ["м. Київ"]
    assert v2.count("N") == 25  # Vinnytsia's artillery alert is not an air raid
    assert aiu.by_oblast(letters(projection, 1)).count("A") == 2


def test_a_red_alert_above_outranks_a_yellow_one_below() -> None:
    projection = projection_of(alert(LVIV, 1), alert(LVIVSKYI_RAION, 2, AlertLevel.YELLOW))
    assert letters(projection, 2)[90] == "R"


def test_alerts_body_parses_with_the_client() -> None:
    places = aiu.Places(region_tree(), compat_locations())
    threat = Threat(ThreatKind.DRONES, T0, "Shaheds from the east")
    alerts = [
        alert(LVIV, 1, threats=(threat,), message=Message("Тривога!", "Alert!")),
        alert(AHRONOMICHNA, 2, AlertLevel.YELLOW, ended_at=T0 + timedelta(minutes=30)),
        alert(KYIV_CITY, 3, threat=ThreatType.CHEMICAL),
    ]
    parsed = Alerts(__import__("orjson").loads(aiu.alerts_body(alerts, places, T0)))
    assert parsed.get_last_updated_at() == T0
    lviv, hromada, kyiv = parsed.get_all_alerts()
    assert (lviv.location_uid, lviv.location_oblast_uid, lviv.location_type) == (
        "27",
        "27",
        "oblast",
    )
    assert lviv.started_at == T0 and lviv.finished_at is None and lviv.notes == "Тривога!"
    assert lviv.is_red() and lviv.get_threats_by_type("drones")[0].source_message == threat.note
    assert (hromada.location_uid, hromada.location_oblast, hromada.location_raion) == (
        "154",
        "Вінницька область",
        "Вінницький район",
    )
    assert hromada.is_yellow() and hromada.is_finished()
    assert kyiv.location_type == "city" and kyiv.alert_type == "chemical"
    assert len({a.id for a in parsed}) == 3 and all(0 < a.id < 2**53 for a in parsed)
    assert parsed.get_alerts_by_oblast_uid("27") == [lviv]


def test_an_alert_on_a_place_without_uid_keeps_its_name() -> None:
    crimean = next(
        r for r in region_tree() if r.id.startswith("UA0102") and r.level.value == "hromada"
    )
    places = aiu.Places(region_tree(), compat_locations())
    shown = aiu.alert_json(alert(crimean.id, 1), places)
    assert shown["location_uid"] is None and shown["location_type"] == "hromada"
    assert shown["location_title"] == crimean.name_uk and shown["location_oblast_uid"] == "29"


def test_numeric_ids_are_stable() -> None:
    assert aiu.numeric_id("01jcs2q3k8x7m4n5p6r7s8t9v0") == aiu.numeric_id(
        "01jcs2q3k8x7m4n5p6r7s8t9v0"
    )
    assert aiu.numeric_id("a") != aiu.numeric_id("b")
