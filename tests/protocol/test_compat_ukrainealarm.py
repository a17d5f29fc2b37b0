"""ukrainealarm's wire form (v3), checked the way Home Assistant's integration reads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from tests.conftest import LVIV
from tests.protocol.test_compat_alerts_in_ua import AHRONOMICHNA, T0, alert, projection_of
from tryvoha.data import compat_locations, region_tree
from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.projection import Projection
from tryvoha.domain.regions import Level
from tryvoha.protocol import compat_ukrainealarm as ua


def index() -> ua.Index:
    return ua.Index(region_tree(), compat_locations())


def test_regions_tree_walks_as_home_assistant_walks_it() -> None:
    states = orjson.loads(ua.regions_body(compat_locations()))["states"]
    assert len(states) == 25
    ids: set[str] = set()
    kinds: dict[str, int] = {}

    def walk(node: dict[str, object], kind: str) -> None:
        assert set(node) == {"regionId", "regionName", "regionType", "regionChildIds"}
        assert node["regionType"] == kind and isinstance(node["regionId"], str)
        ids.add(node["regionId"])
        kinds[kind] = kinds.get(kind, 0) + 1
        below = {"State": "District", "District": "Community"}.get(kind)
        for child in node["regionChildIds"]:  # type: ignore[attr-defined]
            walk(child, below)  # type: ignore[arg-type]

    for state in states:
        walk(state, "State")
    assert kinds == {"State": 25, "District": 122, "Community": 1458}
    assert len(ids) == 1605
    kyiv = next(s for s in states if s["regionId"] == "31")
    assert kyiv["regionName"] == "м. Київ" and kyiv["regionChildIds"] == []


def test_a_community_holds_the_alerts_of_the_regions_it_lies_in() -> None:
    projection = projection_of(alert(LVIV, 1), alert(AHRONOMICHNA, 2, threat=ThreatType.NUCLEAR))
    locations = compat_locations()
    lviv_community = next(
        loc
        for loc in locations
        if loc.kind == "Community"
        and loc.region_id is not None
        and region_tree().oblast_of(loc.region_id) == LVIV
    )
    [model] = orjson.loads(ua.region_body(index(), projection, lviv_community, None))
    assert model["regionId"] == str(lviv_community.uid)
    assert model["activeAlerts"] == [
        {
            "regionId": "27",
            "regionType": "State",
            "type": "AIR",
            "lastUpdate": "2024-11-13T04:47:00Z",
        }
    ]
    [vinnytsia] = orjson.loads(ua.region_body(index(), projection, locations.get(4), None))  # type: ignore[arg-type]
    assert vinnytsia["activeAlerts"] == []  # a community's alert is not the oblast's
    assert vinnytsia["lastUpdate"] == ua.NEVER


def test_alerts_lists_regions_with_their_own_alerts() -> None:
    projection = projection_of(alert(LVIV, 1), alert(AHRONOMICHNA, 2, threat=ThreatType.NUCLEAR))
    models = orjson.loads(ua.alerts_body(index(), projection))
    assert [
        (m["regionId"], m["regionType"], [a["type"] for a in m["activeAlerts"]]) for m in models
    ] == [
        ("154", "Community", ["NUCLEAR"]),
        ("27", "State", ["AIR"]),
    ]
    assert models[1]["regionEngName"] == "Lvivska oblast"
    assert orjson.loads(ua.alerts_body(index(), Projection())) == []


def test_an_unmatched_community_holds_only_what_holds_around_it() -> None:
    locations = compat_locations()
    unmatched = next(loc for loc in locations if loc.region_id is None and loc.in_ukrainealarm)
    district = locations.get(unmatched.parent_uid)  # type: ignore[arg-type]
    assert district is not None and district.region_id is not None
    oblast = region_tree().oblast_of(district.region_id)
    projection = projection_of(alert(oblast, 1))  # type: ignore[arg-type]
    [model] = orjson.loads(ua.region_body(index(), projection, unmatched, None))
    assert [a["regionType"] for a in model["activeAlerts"]] == ["State"]
    assert model["regionEngName"] is None


def test_history_marks_a_running_alert_and_times_its_duration() -> None:
    now = T0 + timedelta(hours=1, minutes=2, seconds=3)
    ended = alert(LVIV, 1, ended_at=T0 + timedelta(minutes=45))
    running = alert(LVIV, 2, started_at=T0 + timedelta(hours=1))
    [history] = orjson.loads(
        ua.history_body(index(), compat_locations().get(27), [running, ended], now)
    )  # type: ignore[arg-type]
    first, second = history["alarms"]
    assert first["isContinue"] is True and first["endDate"] == "2024-11-13T05:49:03Z"
    assert first["duration"]["minutes"] == 2 and first["duration"]["seconds"] == 3
    assert second["isContinue"] is False and second["duration"]["totalMinutes"] == 45.0
    assert second["duration"]["ticks"] == 45 * 60 * 10_000_000
    assert second["alertType"] == "AIR" and second["regionName"] == "Львівська область"


def test_status_is_the_seq() -> None:
    assert orjson.loads(ua.status_body(42)) == {"lastActionIndex": 42}


def test_times_are_to_the_second_in_utc() -> None:
    moment = datetime(2024, 11, 13, 6, 47, 1, 999_000, tzinfo=UTC)
    assert ua.format_time(moment) == "2024-11-13T06:47:01Z"
    assert ua.format_time(None) == "0001-01-01T00:00:00Z"


def test_every_mapped_place_is_a_region_of_its_kind() -> None:
    tree = region_tree()
    kinds = {Level.OBLAST: "State", Level.RAION: "District", Level.HROMADA: "Community"}
    locations = compat_locations()
    for loc in locations:
        if loc.region_id is not None:
            assert kinds[tree.get(loc.region_id).level] == loc.kind, loc
            assert locations.uid_of(loc.region_id) is not None
    assert locations.parse("27") == locations.get(27)
    assert locations.parse("٢٧") is None and locations.parse("27a") is None
    assert locations.parse("9" * 30) is None
