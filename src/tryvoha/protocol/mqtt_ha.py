"""Home Assistant's MQTT discovery for tryvoha's region topics: one `binary_sensor` per
region and threat type, which Home Assistant creates by itself when it reads its config.

The form is Home Assistant's documented discovery schema (its MQTT integration, "MQTT
discovery", and the MQTT binary sensor's configuration variables): a retained config at
`{discovery_prefix}/binary_sensor/{node_id}/{object_id}/config` naming the state topic,
a template that reads our JSON, the device it belongs to and where its availability is
told (`{prefix}/v1/status`: `online`, or the publisher's last will `offline`). An empty
retained config removes the entity. Pure: no I/O.
"""

from __future__ import annotations

import re

import orjson

from tryvoha import __version__
from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.projection import RegionState
from tryvoha.domain.regions import Region
from tryvoha.protocol.mqtt import OFFLINE, ONLINE, QOS, Topics

COMPONENT = "binary_sensor"
DEVICE_CLASS = "safety"  # on: unsafe
ON, OFF = "ON", "OFF"
THREAT_NAMES = {
    ThreatType.AIR_RAID: "Air raid alert",
    ThreatType.ARTILLERY_SHELLING: "Artillery shelling alert",
    ThreatType.URBAN_FIGHTS: "Urban fights alert",
    ThreatType.CHEMICAL: "Chemical threat alert",
    ThreatType.NUCLEAR: "Nuclear threat alert",
}
_NOT_AN_ID = re.compile(r"[^a-zA-Z0-9_-]+")


def node_id(prefix: str) -> str:
    """The discovery node of one publisher: its topic prefix as an id ("tryvoha")."""
    return _NOT_AN_ID.sub("_", prefix).strip("_") or "tryvoha"


def config_topic(discovery_prefix: str, node: str, region_id: str, threat: ThreatType) -> str:
    return f"{discovery_prefix}/{COMPONENT}/{node}/{region_id}_{threat.value}/config"


def configs_filter(discovery_prefix: str, node: str) -> str:
    """Every config of this node: the publisher reads them to remove those it dropped."""
    return f"{discovery_prefix}/{COMPONENT}/{node}/+/config"


def value_template(threat: ThreatType) -> str:
    """ON while the region is under alert for the threat type (on it or above it); a
    region in part under alert is OFF (its state is in the attributes)."""
    return (
        f"{{{{ '{ON}' if value_json.states.{threat.value} == '{RegionState.ALERT.value}' "
        f"else '{OFF}' }}}}"
    )


def config(
    topics: Topics, node: str, region: Region, threat: ThreatType, public_url: str = ""
) -> bytes:
    """The retained discovery config of one region's sensor for one threat type; with the
    server's public address, the device links to the region's page."""
    device_id = f"{node}_{region.id}"
    state_topic = topics.region(region.id)
    device: dict[str, object] = {
        "identifiers": [device_id],
        "name": region.name_en,
        "manufacturer": "tryvoha",
        "model": f"Alerts for a region ({region.level.value})",
        "sw_version": __version__,
    }
    if public_url:
        device["configuration_url"] = f"{public_url.rstrip('/')}/region/{region.id}"
    return orjson.dumps(
        {
            "name": THREAT_NAMES[threat],
            "unique_id": f"{device_id}_{threat.value}",
            "device_class": DEVICE_CLASS,
            "state_topic": state_topic,
            "value_template": value_template(threat),
            "payload_on": ON,
            "payload_off": OFF,
            "json_attributes_topic": state_topic,
            "availability_topic": topics.status,
            "payload_available": ONLINE.decode(),
            "payload_not_available": OFFLINE.decode(),
            "qos": QOS,
            "device": device,
            "origin": {"name": "tryvoha", "sw_version": __version__},
        }
    )
