"""The MQTT channel's decisions, with no broker: what to publish given what the broker
holds. A fresh broker gets every retained topic; a broker that holds the truth gets
nothing; a cleared region gets an explicit clear; nothing is published over a newer seq."""

from __future__ import annotations

from dataclasses import replace

import orjson

from tests.conftest import KYIV_CITY, LVIV
from tests.protocol.test_mqtt import HROMADAS, TREE, alert, projection_of
from tryvoha.channels.mqtt_mirror import Mirror, Publication, Setup, affected
from tryvoha.data import compat_locations
from tryvoha.domain.alerts import Alert, ThreatType
from tryvoha.domain.events import Event, EventType, Seq
from tryvoha.domain.projection import Projection
from tryvoha.domain.regions import Level
from tryvoha.protocol import mqtt as wire
from tryvoha.protocol import mqtt_ha as ha

TOPICS = wire.Topics("tryvoha")
OBLASTS = {r.id for r in TREE.at_level(Level.OBLAST)}
HROMADA = HROMADAS[0]


def mirror(**kwargs: object) -> Mirror:
    return Mirror(Setup(TOPICS, TREE, compat_locations(), **kwargs))  # type: ignore[arg-type]


def list_plan(
    m: Mirror, projection: Projection, regions: set[str] | None = None
) -> list[Publication]:
    return list(m.plan(projection, regions))  # type: ignore[arg-type]


def regions_in(plan: list[Publication]) -> set[str]:
    return {r for p in plan if (r := TOPICS.region_of(p.topic)) is not None}


def clear(projection: Projection, seq: int) -> None:
    for a in projection.active():
        ended = replace(a, ended_at=a.started_at)
        projection.apply(Event(Seq(seq), EventType.CLEARED, a.started_at, "duty", ended))
        seq += 1


def declare(projection: Projection, a: Alert) -> Event:
    event = Event(Seq(projection.seq + 1), EventType.DECLARED, a.started_at, "duty", a)
    projection.apply(event)
    return event


def test_a_fresh_broker_gets_every_retained_topic_and_then_nothing() -> None:
    m = mirror()
    projection = projection_of(alert(HROMADA, 1))
    plan = list_plan(m, projection)
    expected = {TREE.get("UA").id, *OBLASTS, *TREE.lineage(HROMADA) - TREE.descendants(HROMADA)}
    assert regions_in(plan) == expected  # the country, 27 oblasts, the hromada's lineage
    assert {TOPICS.oblasts, TOPICS.oblasts_json} <= {p.topic for p in plan}
    assert all(p.retain for p in plan)
    assert TOPICS.status not in {p.topic for p in plan}  # not before it says online
    m.published(plan)
    assert list_plan(m, projection) == []
    m.online = True
    assert list_plan(m, projection) == [Publication(TOPICS.status, wire.ONLINE)]


def test_a_region_that_clears_gets_an_explicit_clear_payload() -> None:
    m = mirror()
    projection = projection_of(alert(HROMADA, 1))
    m.published(list_plan(m, projection))
    clear(projection, 2)
    plan = list_plan(m, projection, TREE.lineage(HROMADA))
    hromada = next(p for p in plan if p.topic == TOPICS.region(HROMADA))
    body = orjson.loads(hromada.payload)
    assert body["seq"] == 2 and set(body["states"].values()) == {"clear"}
    m.published(plan)
    assert list_plan(m, projection) == []  # the clear is kept, not removed


def test_a_broker_holding_the_same_state_gets_nothing_and_keeps_its_seqs() -> None:
    projection = projection_of(alert(LVIV, 1))
    first = mirror()
    plan = list(first.plan(projection))
    declare(projection, alert(KYIV_CITY, 2, ThreatType.CHEMICAL))
    restarted = mirror()  # a restart: it learns what the broker holds
    for p in plan:
        restarted.hear(p.topic, p.payload)
    again = list(restarted.plan(projection))
    assert regions_in(again) == {KYIV_CITY, TREE.get("UA").id}  # what changed, no more
    assert all(orjson.loads(p.payload)["seq"] == 2 for p in again if p.topic != TOPICS.oblasts)


def test_nothing_is_published_over_a_newer_seq() -> None:
    """The broker holds Lviv under alert at seq 50; this process is at seq 1 and sees Lviv
    clear: its view is older, so it publishes neither Lviv nor the oblasts."""
    newer = mirror()
    ahead = projection_of(alert(LVIV, 1))
    held = list(newer.plan(ahead))
    m = mirror()
    for p in held:
        payload = p.payload
        if p.topic in (TOPICS.region(LVIV), TOPICS.oblasts_json):
            data = orjson.loads(payload)
            data["seq"] = 50
            payload = orjson.dumps(data)
        m.hear(p.topic, payload)
    behind = projection_of(alert(KYIV_CITY, 1, ThreatType.CHEMICAL))
    assert m.broker_seq() == 50
    plan = list_plan(m, behind)
    topics = {p.topic for p in plan}
    assert TOPICS.region(LVIV) not in topics
    assert TOPICS.oblasts not in topics and TOPICS.oblasts_json not in topics
    assert TOPICS.region(KYIV_CITY) in topics  # the broker's is older (seq 1): published


def test_a_damaged_or_foreign_payload_is_overwritten() -> None:
    m = mirror()
    projection = projection_of(alert(LVIV, 1))
    m.published(list_plan(m, projection))
    m.hear(TOPICS.region(LVIV), b"garbage")
    m.hear(TOPICS.region(KYIV_CITY), b"")  # someone removed it
    plan = list_plan(m, projection)
    assert regions_in(plan) == {LVIV, KYIV_CITY}


def test_topics_of_unknown_regions_and_unwanted_configs_are_removed() -> None:
    m = mirror(ha_regions=(KYIV_CITY,))
    projection = projection_of()
    m.hear(TOPICS.region("UA99"), b'{"region_id":"UA99","seq":1}')
    stale = ha.config_topic("homeassistant", "tryvoha", LVIV, ThreatType.AIR_RAID)
    m.hear(stale, b"{}")
    plan = list_plan(m, projection)
    removals = {p.topic for p in plan if p.payload == b""}
    assert removals == {TOPICS.region("UA99"), stale}
    configs = [p for p in plan if p.topic.startswith("homeassistant/") and p.payload]
    assert len(configs) == len(ThreatType)
    assert KYIV_CITY in regions_in(plan)  # a Home Assistant region is always published
    m.published(plan)
    assert list_plan(m, projection) == []


def test_an_old_will_is_answered_with_online() -> None:
    m = mirror()
    projection = projection_of()
    m.published(list_plan(m, projection))
    m.online = True
    m.published(list_plan(m, projection))
    m.hear(TOPICS.status, wire.OFFLINE)  # a previous connection's last will, late
    assert list_plan(m, projection, set()) == [Publication(TOPICS.status, wire.ONLINE)]


def test_a_batch_plans_only_the_regions_it_touched() -> None:
    m = mirror()
    projection = projection_of(alert(LVIV, 1))
    m.published(list_plan(m, projection))
    event = declare(projection, alert(HROMADA, 2))
    plan = list_plan(m, projection, affected(TREE, [event]))
    assert regions_in(plan) <= TREE.lineage(HROMADA)
    assert HROMADA in regions_in(plan)
