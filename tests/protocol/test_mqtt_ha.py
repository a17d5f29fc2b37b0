"""Home Assistant's MQTT discovery: each config is what Home Assistant documents (its
discovery topic form, the binary sensor's configuration variables, written down as a
JSON Schema in data/), and its template, rendered by Jinja2 as Home Assistant renders it
(`value_json` is the payload), turns every state payload into ON or OFF."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import orjson
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tests.conftest import KYIV_CITY, LVIV
from tests.protocol.test_mqtt import TREE, alert, projection_of
from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.regions import Level
from tryvoha.protocol import mqtt as wire
from tryvoha.protocol import mqtt_ha as ha

SCHEMA = json.loads((Path(__file__).parent / "data/ha-mqtt-binary-sensor.schema.json").read_text())
# Home Assistant's discovery topic, after its discovery prefix:
# <discovery_prefix>/<component>/[<node_id>/]<object_id>/config
DISCOVERY_TOPIC = re.compile(
    r"(?P<component>\w+)/(?:(?P<node>[a-zA-Z0-9_-]+)/)?(?P<object>[a-zA-Z0-9_-]+)/config"
)
TOPICS = wire.Topics("tryvoha")
HROMADA = TREE.at_level(Level.HROMADA)[0]


def test_the_schema_itself_is_valid_and_strict() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    assert not validator.is_valid({"state_topic": "a", "stat_topic": "b"})  # a typo fails
    assert not validator.is_valid({"state_topic": "a", "device_class": "air_raid"})
    assert not validator.is_valid({"state_topic": "a", "device": {"name": "x"}})


@pytest.mark.parametrize("region", [TREE.get(KYIV_CITY), TREE.get(LVIV), HROMADA])
@pytest.mark.parametrize("threat", list(ThreatType))
def test_each_config_is_a_documented_binary_sensor(region: object, threat: ThreatType) -> None:
    node = ha.node_id(TOPICS.prefix)
    topic = ha.config_topic("homeassistant", node, region.id, threat)  # type: ignore[attr-defined]
    assert topic.startswith("homeassistant/")
    found = DISCOVERY_TOPIC.fullmatch(topic.removeprefix("homeassistant/"))
    assert found is not None
    assert (found["component"], found["node"]) == ("binary_sensor", "tryvoha")
    config = orjson.loads(
        ha.config(TOPICS, node, region, threat, "https://alerts.example.org")  # type: ignore[arg-type]
    )
    jsonschema.validate(config, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert config["device_class"] == "safety"
    assert config["state_topic"] == TOPICS.region(region.id)  # type: ignore[attr-defined]
    assert config["availability_topic"] == TOPICS.status
    assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
    assert config["device"]["configuration_url"].endswith(f"/region/{region.id}")  # type: ignore[attr-defined]


def test_unique_ids_are_unique_and_one_device_per_region() -> None:
    node = ha.node_id(TOPICS.prefix)
    configs = [
        orjson.loads(ha.config(TOPICS, node, TREE.get(r), t))
        for r in (KYIV_CITY, LVIV)
        for t in ThreatType
    ]
    assert len({c["unique_id"] for c in configs}) == 10
    assert len({c["device"]["identifiers"][0] for c in configs}) == 2
    assert "configuration_url" not in configs[0]["device"]  # no public address given


def render(template: str, payload: bytes) -> str:
    """As Home Assistant renders a value_template: `value` and `value_json`."""
    env = ImmutableSandboxedEnvironment()
    return env.from_string(template).render(
        value=payload.decode(), value_json=orjson.loads(payload)
    )


def test_the_template_is_on_exactly_while_the_region_is_under_alert() -> None:
    projection = projection_of(
        alert(LVIV, 1, ThreatType.AIR_RAID), alert(HROMADA.id, 2, ThreatType.CHEMICAL)
    )
    bearings = projection.bearings(TREE)
    node = ha.node_id(TOPICS.prefix)
    for region in (LVIV, KYIV_CITY, HROMADA.id, TREE.oblast_of(HROMADA.id)):
        assert region is not None
        payload = wire.with_seq(wire.region_body(bearings, region), projection.seq)
        states = orjson.loads(payload)["states"]
        for threat in ThreatType:
            config = orjson.loads(ha.config(TOPICS, node, TREE.get(region), threat))
            shown = render(config["value_template"], payload)
            assert shown == ("ON" if states[threat.value] == "alert" else "OFF"), (region, threat)
            assert isinstance(orjson.loads(payload), dict)  # json_attributes must be a map


def test_node_ids_are_topic_safe() -> None:
    assert ha.node_id("tryvoha") == "tryvoha"
    assert ha.node_id("alerts/ua") == "alerts_ua"
    assert ha.node_id("тривога") == "tryvoha"  # nothing left: the default
