"""The MQTT channel in-process, on a real Mosquitto and a real store (both kinds): what the
broker holds is what the state API says; the events topic carries every event once, in
order, from a cursor in the store; a publisher behind the broker never sets it back; one
process publishes at a time; others' writes to our topics are answered."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from tests.channels.conftest import new_broker
from tests.conftest import KYIV_CITY, KYIV_OBLAST, LVIV
from tests.support.mosquitto import Mosquitto, Tls, client, listening, retained, until_right
from tests.support.server import timeout
from tryvoha.bus.base import Receiver
from tryvoha.config import Settings
from tryvoha.data import region_tree
from tryvoha.domain.alerts import AlertLevel, ThreatKind, ThreatType
from tryvoha.domain.commands import ClearRegion, Declare, ThreatSpec, Update
from tryvoha.domain.regions import Level
from tryvoha.domain.scope import Principal, Role
from tryvoha.engine.auth import issue_token
from tryvoha.protocol import mqtt as wire
from tryvoha.server.services import Services
from tryvoha.store.base import Committed

pytestmark = pytest.mark.anyio
TREE = region_tree()
NATIONAL = Principal("national", Role.ISSUER, (TREE.get("UA").id,))
TOPICS = wire.Topics("tryvoha")
HROMADA = TREE.at_level(Level.HROMADA)[5].id


class DeafBus:
    """A bus that brings nothing: the process learns of others' events only when asked."""

    async def start(self, receiver: Receiver) -> None:
        return None

    async def published(self, committed: list[Committed]) -> None:
        return None

    async def close(self) -> None:
        return None


async def start(
    store_url: str,
    broker: Mosquitto,
    bus: DeafBus | None = None,
    online: bool = True,
    **settings: object,
) -> Services:
    """A serving process's services with MQTT; with `online`, once it publishes (its
    first cursor is the log's end then: the events after it are published)."""
    values: dict[str, object] = {"store": store_url, "mqtt": broker.url, "standing_alerts": False}
    services = await Services.start(Settings(**(values | settings)), bus)  # type: ignore[arg-type]
    if not await services.store.list_tokens():
        await issue_token(services.store, TREE, NATIONAL.name, NATIONAL.role, ["UA"])
    async with asyncio.timeout(timeout(10)):
        while online and not (services.mqtt is not None and services.mqtt.online):
            await asyncio.sleep(0.02)
    return services


@contextlib.asynccontextmanager
async def serving(
    store_url: str,
    broker: Mosquitto,
    bus: DeafBus | None = None,
    online: bool = True,
    **settings: object,
) -> AsyncIterator[Services]:
    services = await start(store_url, broker, bus, online, **settings)
    try:
        yield services
    finally:
        await services.stop()


def state_of(services: Services) -> dict[str, object]:
    return orjson.loads(services.views.state().body)  # type: ignore[no-any-return]


async def writes(services: Services, broker: Mosquitto) -> None:
    """Declares, an update and clears across levels and threat types; after each, the
    broker holds what the state API says."""
    run = services.engine.execute
    await run(Declare((LVIV, KYIV_CITY), threats=(ThreatSpec(ThreatKind.DRONES),)), NATIONAL)
    await until_right(broker, lambda: state_of(services))
    await run(Declare((HROMADA,), ThreatType.CHEMICAL, AlertLevel.YELLOW), NATIONAL)
    await run(Declare((KYIV_OBLAST,), ThreatType.ARTILLERY_SHELLING), NATIONAL)
    await until_right(broker, lambda: state_of(services))
    kyiv = services.engine.projection.find(KYIV_CITY, ThreatType.AIR_RAID)
    assert kyiv is not None
    await run(Update(kyiv.id, level=AlertLevel.YELLOW), NATIONAL)
    await until_right(broker, lambda: state_of(services))
    await run(ClearRegion(LVIV), NATIONAL)
    await run(ClearRegion(HROMADA), NATIONAL)


async def test_the_broker_holds_what_the_state_api_says(store_url: str, broker: Mosquitto) -> None:
    async with listening(broker, TOPICS.events) as heard, serving(store_url, broker) as services:
        await writes(services, broker)
        held = await until_right(broker, lambda: state_of(services))
        oblasts = services.compat.aiu_by_oblast(1).body  # GET /v1/iot/...by_oblast.json
        assert orjson.dumps(held[TOPICS.oblasts].decode()) == oblasts
        for region in (LVIV, HROMADA):  # cleared: an explicit clear payload, kept
            body = orjson.loads(held[TOPICS.region(region)])
            assert set(body["states"].values()) == {"clear"} and body["level"] is None
        kyiv = orjson.loads(held[TOPICS.region(KYIV_CITY)])
        assert (kyiv["level"], kyiv["threats"]) == ("yellow", ["drones"])
        raws = await services.store.read_events(0, 100)
        async with asyncio.timeout(timeout(10)):
            while len(heard.on(TOPICS.events)) < len(raws):
                await asyncio.sleep(0.05)
        assert heard.on(TOPICS.events) == raws  # the SSE stream's bytes, in order, once


async def test_the_events_topic_resumes_from_its_cursor(
    store_url: str, broker: Mosquitto, tmp_path: Path
) -> None:
    """Events committed while no process publishes are published when one comes back,
    after those already published, none twice (a graceful stop records the cursor)."""
    async with listening(broker, TOPICS.events) as heard:
        async with serving(store_url, broker) as services:
            run = services.engine.execute
            await run(Declare((LVIV,)), NATIONAL)
            await until_right(broker, lambda: state_of(services))
            await run(ClearRegion(LVIV), NATIONAL)
            await until_right(broker, lambda: state_of(services))
        quiet = Settings(store=store_url, standing_alerts=False)  # no MQTT
        other = await Services.start(quiet)
        await other.engine.execute(Declare((KYIV_CITY,)), NATIONAL)
        await other.engine.execute(Declare((HROMADA,)), NATIONAL)
        await other.stop()
        async with serving(store_url, broker) as services:
            await until_right(broker, lambda: state_of(services))
            raws = await services.store.read_events(0, 100)
            async with asyncio.timeout(timeout(10)):
                while len(heard.on(TOPICS.events)) < len(raws):
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # nothing more comes
        assert [orjson.loads(r)["seq"] for r in heard.on(TOPICS.events)] == [1, 2, 3, 4]
        assert heard.on(TOPICS.events) == raws


async def test_a_publisher_behind_the_broker_never_sets_it_back(
    store_url: str, broker: Mosquitto
) -> None:
    """Process B starts at seq 1 and hears of nothing after (a bus that brings nothing).
    Process A publishes up to seq 4 and stops. B takes the lease: the broker holds seq 4,
    B is at 1, so B publishes nothing until its log has reached seq 4."""
    first = await start(store_url, broker)
    await first.engine.execute(Declare((LVIV,)), NATIONAL)
    await until_right(broker, lambda: state_of(first))
    behind = await start(store_url, broker, DeafBus(), online=False)
    try:
        assert behind.engine.seq == 1
        await first.engine.execute(Declare((KYIV_CITY,)), NATIONAL)
        await first.engine.execute(ClearRegion(LVIV), NATIONAL)
        await first.engine.execute(Declare((HROMADA,), ThreatType.CHEMICAL), NATIONAL)
        truth = state_of(first)
        await until_right(broker, lambda: truth)
        async with listening(broker, "tryvoha/#") as heard:
            await first.stop()  # graceful: offline, and the lease is dropped
            async with asyncio.timeout(timeout(10)):
                while not behind.keepers[0].holding:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(timeout(2))
            published = [
                t for t, _, _ in heard.messages if t != TOPICS.status and "/sync/" not in t
            ]
            assert published == []  # B knows it is behind: nothing older is published
            assert behind.engine.seq == 1
            await behind.engine.catch_up()  # B's log reaches the broker's seq
            await until_right(broker, lambda: state_of(behind))
            assert state_of(behind) == truth
        for topic, payload, _ in heard.messages:
            if topic.endswith(("/state", ".json")):
                assert orjson.loads(payload)["seq"] >= truth["seq"], topic  # type: ignore[operator]
    finally:
        await behind.stop()


async def test_one_process_publishes_at_a_time(store_url: str, broker: Mosquitto) -> None:
    first = await start(store_url, broker)
    async with serving(store_url, broker, online=False) as second:
        try:
            await first.engine.execute(Declare((LVIV,)), NATIONAL)
            await until_right(broker, lambda: state_of(first))
            await asyncio.sleep(timeout(1))
            assert broker.connections("tryvoha-") == 1
            assert [first.keepers[0].holding, second.keepers[0].holding] == [True, False]
        finally:
            await first.stop()
        await second.engine.execute(Declare((KYIV_CITY,)), NATIONAL)
        await until_right(broker, lambda: state_of(second), seconds=20)
        assert broker.connections("tryvoha-") == 2


async def test_others_writes_to_our_topics_are_answered(tmp_path: Path, broker: Mosquitto) -> None:
    """A stale payload, a removed topic and an old last will are put right at once."""
    async with serving(f"sqlite:///{tmp_path}/t.db", broker) as services:
        await services.engine.execute(Declare((LVIV,)), NATIONAL)
        held = await until_right(broker, lambda: state_of(services))
        stale = orjson.loads(held[TOPICS.region(LVIV)])
        stale["seq"], stale["states"]["air_raid"] = 0, "clear"
        async with client(broker) as other:
            await other.publish(TOPICS.region(LVIV), orjson.dumps(stale), qos=1, retain=True)
            await other.publish(TOPICS.region(KYIV_CITY), b"", qos=1, retain=True)
            await other.publish(TOPICS.status, wire.OFFLINE, qos=1, retain=True)
        await until_right(broker, lambda: state_of(services))
        assert TOPICS.region(KYIV_CITY) in await retained(broker, TOPICS.regions)


async def test_home_assistant_configs_follow_the_setting(tmp_path: Path, broker: Mosquitto) -> None:
    store = f"sqlite:///{tmp_path}/t.db"
    configs = "homeassistant/binary_sensor/tryvoha/+/config"
    async with serving(store, broker, mqtt_ha_regions=("Kyiv", "Lviv")) as services:
        await until_right(broker, lambda: state_of(services))
        held = await retained(broker, configs)
        assert len(held) == 2 * len(ThreatType)
        assert all(orjson.loads(p)["device_class"] == "safety" for p in held.values())
    async with serving(store, broker, mqtt_ha_regions=("Kyiv", HROMADA)) as services:
        await until_right(broker, lambda: state_of(services))
        held = await retained(broker, configs)
        regions = {orjson.loads(p)["state_topic"] for p in held.values()}
        assert regions == {TOPICS.region(KYIV_CITY), TOPICS.region(HROMADA)}  # Lviv's removed
        assert TOPICS.region(HROMADA) in await retained(broker, TOPICS.regions)  # always there


# paho-mqtt (2.1) leaves the socket of a failed TLS handshake to the garbage collector.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <ssl.SSLSocket:pytest.PytestUnraisableExceptionWarning"
)
async def test_mqtts_with_the_authority_given(tmp_path: Path) -> None:
    """mqtts://: the broker's certificate is checked against --mqtt-ca; without it (the
    system's authorities do not know this one) nothing is published."""
    tls = Tls.make(tmp_path / "tls")
    broker = new_broker(tmp_path / "broker", tls=tls).start()
    try:
        assert broker.url.startswith("mqtts://")
        store = f"sqlite:///{tmp_path}/t.db"
        async with serving(store, broker, mqtt_ca=str(tls.ca)) as services:
            await services.engine.execute(Declare((LVIV,)), NATIONAL)
            await until_right(broker, lambda: state_of(services))
        async with serving(store, broker, online=False) as untrusting:
            await asyncio.sleep(timeout(1.5))
            assert untrusting.mqtt is not None and not untrusting.mqtt.online
            assert untrusting.mqtt.quiet.failures >= 1
    finally:
        broker.stop()
        gc.collect()  # the failed handshakes' sockets, within this test
