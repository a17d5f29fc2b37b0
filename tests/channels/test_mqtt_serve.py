"""`tryvoha serve --mqtt` as it runs, on a real Mosquitto and both stores: a late subscriber
gets what GET /api/v1/state says; a broker that dies and comes back empty is put right
within seconds while writes go on at their own speed; a server killed with SIGKILL and
started again never shows a stale state; with --workers 2 one process publishes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.channels.conftest import new_broker
from tests.conftest import KYIV_CITY, KYIV_OBLAST, LVIV
from tests.support.log import read_log
from tests.support.mosquitto import Mosquitto, listening, retained, until_right
from tests.support.server import ServerProcess, make_token, timeout
from tryvoha.data import region_tree
from tryvoha.domain.projection import Projection
from tryvoha.domain.regions import Level
from tryvoha.domain.scope import Role
from tryvoha.protocol import mqtt as wire
from tryvoha.protocol.wire import decode_event

pytestmark = pytest.mark.slow
TREE = region_tree()
TOPICS = wire.Topics("tryvoha")
HROMADAS = [r.id for r in TREE.at_level(Level.HROMADA)]
UNLIMITED = ["--token-write-rate-limit", "off"]  # one issuer writes fast here


class Issuer:
    """A national issuer over HTTP, and the state the server says."""

    def __init__(self, server: ServerProcess, token: str) -> None:
        self.server = server
        self.token = token
        self.http = self._client()
        self.took: list[float] = []  # seconds each write took

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=timeout(10),
        )

    def reconnect(self) -> None:
        """After a restart: new connections (the old ones died with the server)."""
        self.http.close()
        self.http = self._client()

    def write(self, path: str, body: object = None) -> int:
        started = time.perf_counter()
        answer = self.http.post(path, json=body)
        self.took.append(time.perf_counter() - started)
        assert answer.status_code in (200, 201), answer.text
        return int(answer.json()["seq"])

    def declare(self, *regions: str, **fields: object) -> int:
        return self.write("/api/v1/alerts", {"regions": list(regions), **fields})

    def clear(self, region: str) -> int:
        return self.write(f"/api/v1/regions/{region}/clear")

    def state(self) -> dict[str, object]:
        return self.http.get("/api/v1/state").json()  # type: ignore[no-any-return]


@pytest.fixture
def mqtt_server(store_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, Mosquitto]]:
    broker = new_broker(tmp_path / "broker").start()
    server = ServerProcess(store_url, [*UNLIMITED, "--mqtt", broker.url], cwd=tmp_path)
    server.start()
    yield server, broker
    server.stop()
    broker.stop()


@pytest.fixture
def issuer() -> Iterator[Callable[[ServerProcess], Issuer]]:
    """A national issuer of a server's store (closed at the end)."""
    made: list[Issuer] = []

    def make(server: ServerProcess) -> Issuer:
        made.append(Issuer(server, make_token(server.store_url, "national", ["UA"])))
        return made[-1]

    yield make
    for one in made:
        one.http.close()


def test_a_late_subscriber_gets_what_the_state_api_says(
    mqtt_server: tuple[ServerProcess, Mosquitto], issuer: Callable[[ServerProcess], Issuer]
) -> None:
    server, broker = mqtt_server
    national = issuer(server)
    asyncio.run(until_right(broker, national.state))
    national.declare(LVIV, KYIV_CITY, threats=["ballistic_missiles"])
    national.declare(HROMADAS[10], threat="chemical", level="yellow")
    national.declare(KYIV_OBLAST, threat="artillery_shelling")
    national.clear(LVIV)
    national.declare(*HROMADAS[100:130])
    national.clear(HROMADAS[10])
    for hromada in HROMADAS[100:120]:
        national.clear(hromada)
    held = asyncio.run(until_right(broker, national.state))  # a new subscriber's view
    key = make_token(server.store_url, "led-map", [], Role.READER)
    iot = httpx.get(
        f"{server.url}/v1/iot/active_air_raid_alerts_by_oblast.json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert iot.json() == held[TOPICS.oblasts].decode()
    assert orjson.loads(held[TOPICS.oblasts_json])["oblasts"] == iot.json()


def test_a_broker_that_comes_back_empty_is_put_right(
    mqtt_server: tuple[ServerProcess, Mosquitto],
    issuer: Callable[[ServerProcess], Issuer],
    tmp_path: Path,
) -> None:
    server, broker = mqtt_server
    national = issuer(server)
    national.declare(LVIV)
    asyncio.run(until_right(broker, national.state))
    national.took.clear()
    for hromada in HROMADAS[:10]:  # with the broker up: the reference
        national.declare(hromada)
        national.clear(hromada)
    up = sorted(national.took)
    broker.kill()
    national.took.clear()
    national.clear(LVIV)
    national.declare(KYIV_CITY, threats=["drones"])
    for hromada in HROMADAS[10:20]:
        national.declare(hromada)
        national.clear(hromada)
    national.declare(*HROMADAS[20:25])
    down = sorted(national.took)
    # Writes go on while the broker is down: none waits for it (the speed is compared in
    # the bench; here only that no write stalls on the channel).
    assert down[-1] < timeout(2), (up, down)
    fresh = new_broker(tmp_path / "fresh", port=broker.port).start()  # persistence off
    try:
        came_back = time.monotonic()
        held = asyncio.run(until_right(fresh, national.state, seconds=15))
        print(f"right again {time.monotonic() - came_back:.1f} s after the broker came back")
        print(
            f"write median {up[len(up) // 2] * 1e3:.1f} ms up, {down[len(down) // 2] * 1e3:.1f} ms down"
        )
        assert orjson.loads(held[TOPICS.region(LVIV)])["states"]["air_raid"] == "clear"
    finally:
        fresh.stop()


def test_kill_9_and_a_restart_show_no_stale_state(
    mqtt_server: tuple[ServerProcess, Mosquitto], issuer: Callable[[ServerProcess], Issuer]
) -> None:
    """A subscriber hears everything across a SIGKILL of the server and its restart:
    every state payload it hears is the log's state at the payload's seq, seqs never go
    back on a topic, the will says offline, and the events topic misses no event."""
    server, broker = mqtt_server
    national = issuer(server)
    asyncio.run(until_right(broker, national.state))

    async def scenario() -> tuple[list[tuple[str, bytes, float]], list[bytes]]:
        async with listening(broker, "tryvoha/#") as heard:
            national.declare(LVIV, KYIV_CITY)
            national.declare(HROMADAS[3], threat="urban_fights")
            await until_right(broker, national.state)
            national.clear(LVIV)
            national.declare(KYIV_OBLAST, level="yellow")
            server.kill()  # right after the writes: their publications may be lost
            await asyncio.sleep(0.5)
            server.start()
            national.reconnect()
            national.clear(KYIV_CITY)
            national.declare(HROMADAS[7])
            # The killed process's lease runs out first (LEASE_SECONDS), then the new one
            # publishes: up to ~17 s.
            await until_right(broker, national.state, seconds=40)
            raws = read_log(server.store_url)
            async with asyncio.timeout(timeout(10)):
                while max(
                    (orjson.loads(p)["seq"] for p in heard.on(TOPICS.events)), default=0
                ) < len(raws):
                    await asyncio.sleep(0.05)
            return heard.messages, raws

    messages, raws = asyncio.run(scenario())
    states = states_at_each_seq(raws)
    last: dict[str, int] = {}
    for topic, payload, _ in messages:
        region = TOPICS.region_of(topic)
        if region is None:
            continue
        body = orjson.loads(payload)
        seq = body["seq"]
        assert seq >= last.get(topic, 0), f"{topic} went back from {last[topic]} to {seq}"
        last[topic] = seq
        assert wire.non_clear(body) == states[seq].get(region, {}), (topic, seq)
    status = [p for t, p, _ in messages if t == TOPICS.status]
    assert b"offline" in status and status[-1] == b"online"
    events = [orjson.loads(p)["seq"] for t, p, _ in messages if t == TOPICS.events]
    assert sorted(set(events)) == list(range(1, len(raws) + 1))  # none missed
    # Each process publishes events in order from its cursor; the restarted one resumes
    # where the killed one last recorded (at most ~200 ms of events are published again).
    restart = next((i for i in range(1, len(events)) if events[i] <= events[i - 1]), len(events))
    before, after = events[:restart], events[restart:]
    assert before == list(range(1, len(before) + 1))
    assert not after or after == list(range(after[0], len(raws) + 1))
    assert not after or after[0] <= len(before)


def states_at_each_seq(raws: list[bytes]) -> list[dict[str, dict[str, str]]]:
    """GET /api/v1/state's regions after each seq of the log (index: seq)."""
    projection = Projection()
    found: list[dict[str, dict[str, str]]] = [{}]
    for raw in raws:
        projection.apply(decode_event(raw))
        found.append(
            {
                region: {t.value: s.value for t, s in per.items()}
                for region, per in projection.states(TREE).items()
            }
        )
    return found


def test_with_two_workers_one_publishes(
    store_url: str, tmp_path: Path, issuer: Callable[[ServerProcess], Issuer]
) -> None:
    broker = new_broker(tmp_path / "broker").start()
    server = ServerProcess(
        store_url, [*UNLIMITED, "--mqtt", broker.url, "--workers", "2"], cwd=tmp_path
    )
    server.start()
    try:
        national = issuer(server)
        for hromada in HROMADAS[:6]:  # spread over both processes by the kernel
            national.declare(hromada)
        national.clear(HROMADAS[0])
        asyncio.run(until_right(broker, national.state))
        time.sleep(timeout(1))
        assert broker.connections("tryvoha-") == 1
        server.stop()  # a graceful stop says so
        assert asyncio.run(retained(broker, TOPICS.status)) == {TOPICS.status: b"offline"}
    finally:
        server.stop()
        broker.stop()


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--mqtt", "http://duty:hunter2@broker"], "--mqtt (TRYVOHA_MQTT)"),
        (["--mqtt", "mqtt://duty:hunter2@broker:99999"], "--mqtt (TRYVOHA_MQTT)"),
        (["--mqtt", "mqtt://b", "--mqtt-prefix", "a/#"], "--mqtt-prefix"),
        (["--mqtt", "mqtt://b", "--mqtt-ha-regions", "Kyiv,Atlantis"], "--mqtt-ha-regions"),
        (["--mqtt-ha-regions", "Kyiv"], "--mqtt-ha-regions needs --mqtt"),
    ],
)
def test_bad_mqtt_settings_are_one_line_without_the_password(
    flags: list[str], named: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tryvoha", "serve", "--store", f"sqlite:///{tmp_path}/t.db", *flags],
        capture_output=True,
        text=True,
        timeout=timeout(60),
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], done.stderr
    assert "hunter2" not in done.stderr + done.stdout and "Traceback" not in done.stderr
