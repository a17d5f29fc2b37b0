"""The real client libraries from PyPI, pointed at a real `tryvoha serve`: alerts-in-ua
0.4 (sync and async) and uasiren used as Home Assistant's ukraine_alarm integration uses
it. Alerts are declared and cleared through API v1 in between, as an issuer would."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import requests
from alerts_in_ua import AsyncClient, Client
from alerts_in_ua.errors import ApiError, RateLimitError, UnauthorizedError
from uasiren.client import Client as SirenClient

from tests.conftest import KYIV_OBLAST, LVIV
from tests.support.server import ServerProcess, make_token
from tryvoha.data import compat_locations
from tryvoha.domain.scope import Role
from tryvoha.protocol.http_dates import SETTLE, final_last_modified

BORYSPILSKYI_RAION = "UA32040000000054694"  # uid 78, in Kyiv oblast (14)
AHRONOMICHNA = "UA05020010000053508"  # uid 154, Vinnytskyi raion (36), Vinnytsia oblast (4)
UNLIMITED = [
    "--alerts-in-ua-rate-limit",
    "off",
    "--alerts-in-ua-history-rate-limit",
    "off",
    "--ukrainealarm-rate-limit",
    "off",
]
# What Home Assistant's ukraine_alarm integration knows of (const.ALERT_TYPES).
HA_ALERT_TYPES = {"UNKNOWN", "AIR", "ARTILLERY", "URBAN_FIGHTS", "CHEMICAL", "NUCLEAR"}


@pytest.fixture
def open_server(store_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(store_url, UNLIMITED, cwd=tmp_path)
    proc.start()
    yield proc
    proc.stop()


class Issuer:
    """Declares and clears through API v1, as an issuer does."""

    def __init__(self, server: ServerProcess, store_url: str) -> None:
        self.url = server.url
        self.auth = {"Authorization": f"Bearer {make_token(store_url, 'duty', ['UA'])}"}

    def declare(self, regions: list[str], **body: Any) -> list[dict[str, Any]]:
        answer = httpx.post(
            f"{self.url}/api/v1/alerts", json={"regions": regions, **body}, headers=self.auth
        )
        assert answer.status_code == 201, answer.text
        alerts: list[dict[str, Any]] = answer.json()["alerts"]
        return alerts

    def clear(self, region: str) -> int:
        answer = httpx.post(f"{self.url}/api/v1/regions/{region}/clear", headers=self.auth)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["seq"])


def wait_until_settled(response_last_modified: str) -> None:
    """Until a Last-Modified the server sent may be answered 304 (the change's second is
    over, and the time events take between processes)."""
    deadline = email.utils.parsedate_to_datetime(response_last_modified) + 2 * SETTLE
    while datetime.now(UTC) < deadline:
        time.sleep(0.2)


def test_alerts_in_ua_sync_client(
    open_server: ServerProcess, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Client, "API_BASE_URL", open_server.url)
    issuer = Issuer(open_server, store_url)
    client = Client(token=make_token(store_url, "led-map", [], Role.READER))
    assert len(client.get_active_alerts()) == 0

    issuer.declare(
        [LVIV],
        threats=[{"kind": "ballistic_missiles", "note": "from the south"}],
        message={"uk": "Тривога! Прямуйте в укриття.", "en": "Air raid! Go to a shelter."},
    )
    issuer.declare([BORYSPILSKYI_RAION], level="yellow", threats=["drones"])
    issuer.declare([AHRONOMICHNA], threat="artillery_shelling")

    active = client.get_active_alerts()
    assert len(active) == 3
    # (the client's get_oblast_alerts() & co. compare alert_type with 'oblast': by type)
    [lviv] = active.get_alerts_by_location_type("oblast")
    assert (lviv.location_title, lviv.location_uid, lviv.alert_type) == (
        "Львівська область",
        "27",
        "air_raid",
    )
    assert lviv.notes == "Тривога! Прямуйте в укриття." and lviv.is_red()
    assert lviv.get_threats_by_type("ballistic_missiles")[0].source_message == "from the south"
    assert lviv.started_at.tzinfo is not None and lviv.finished_at is None
    [raion] = active.get_alerts_by_location_type("raion")
    assert (raion.location_oblast, raion.location_oblast_uid, raion.location_uid) == (
        "Київська область",
        "14",
        "78",
    )
    assert raion.is_yellow() and active.get_yellow_alerts() == [raion]
    [hromada] = active.get_alerts_by_location_type("hromada")
    assert hromada.location_raion == "Вінницький район" and hromada.location_uid == "154"
    assert active.get_artillery_shelling_alerts() == [hromada]
    assert len(active.get_air_raid_alerts()) == 2 and active.get_red_alerts() == [lviv, hromada]
    assert active.get_alerts_by_oblast("Львівська область") == [lviv]
    assert active.get_alerts_by_location_uid("154") == [hromada]
    assert active.get_alerts_with_threat_type("drones") == [raion]
    assert active.filter("location_oblast", "Київська область", "alert_type", "air_raid") == [raion]
    assert active.get_last_updated_at().year >= 2026 and "tryvoha" in active.get_disclaimer()

    by_oblast = client.get_air_raid_alert_statuses_by_oblast()
    assert [s.location_title for s in by_oblast.get_active_alert_oblasts()] == ["Львівська область"]
    assert [s.location_title for s in by_oblast.get_partly_active_alert_oblasts()] == [
        "Київська область"
    ]  # Vinnytsia's artillery is not an air raid
    assert (
        len(
            client.get_air_raid_alert_statuses_by_oblast(
                oblast_level_only=True
            ).get_partly_active_alert_oblasts()
        )
        == 0
    )
    levels = client.get_air_raid_alert_statuses_by_oblast(include_alert_level=True)
    assert [s.location_title for s in levels.get_red_alert_oblasts()] == ["Львівська область"]
    assert client.get_air_raid_alert_status(27).status == "active"
    assert client.get_air_raid_alert_status("Київська область").status == "partly"
    assert client.get_air_raid_alert_status(78, include_alert_level=True).is_yellow()
    assert client.get_air_raid_alert_status("Бориспільський район").status == "active"
    assert client.get_air_raid_alert_status(31).status == "no_alert"
    every = client.get_air_raid_alert_statuses()
    assert every.get_status(27).status == "active" and every.get_status(90).status == "active"
    assert every.get_status(14).status == "partly" and every.get_status(154).status == "no_alert"
    assert len(every) == 1611
    leveled = client.get_air_raid_alert_statuses(include_alert_level=True)
    assert leveled.get_status(78).alert_level == "yellow" and leveled.get_status(27).is_red()

    # a clear right after: the client revalidates with If-Modified-Since and must see it
    issuer.clear(LVIV)
    assert [a.location_uid for a in client.get_active_alerts()] == ["78", "154"]
    assert client.get_air_raid_alert_status(27).status == "no_alert"
    assert client.get_air_raid_alert_statuses_by_oblast().get_active_alert_oblasts() == []

    history = client.get_alerts_history(27, period="week_ago")
    [ended] = history.get_all_alerts()
    assert ended.is_finished() and ended.finished_at >= ended.started_at
    month = client.get_alerts_history("Львівська область", period="month_ago")
    assert [a.id for a in month] == [ended.id]
    assert len(client.get_alerts_history(14)) == 1  # the raion's alert is Kyiv oblast's history


def test_alerts_in_ua_client_gets_304_once_settled(
    open_server: ServerProcess, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Client, "API_BASE_URL", open_server.url)
    issuer = Issuer(open_server, store_url)
    issuer.declare([LVIV])
    statuses: list[int] = []
    real_get = requests.get

    def recording_get(*args: Any, **kwargs: Any) -> requests.Response:
        response = real_get(*args, **kwargs)
        statuses.append(response.status_code)
        return response

    monkeypatch.setattr(requests, "get", recording_get)
    client = Client(token=make_token(store_url, "ha", [], Role.READER))
    first = client.get_air_raid_alert_statuses_by_oblast()
    stamp = client.cache["iot/active_air_raid_alerts_by_oblast.json"]["Last-Modified"]
    wait_until_settled(stamp)
    client.get_air_raid_alert_statuses_by_oblast()  # 200: the settled date is newer
    statuses.clear()
    again = client.get_air_raid_alert_statuses_by_oblast()
    assert statuses == [304]  # answered from the client's cache
    assert [s.status for s in again] == [s.status for s in first]
    issuer.clear(LVIV)
    statuses.clear()
    cleared = client.get_air_raid_alert_statuses_by_oblast()
    assert statuses == [200, 200] and cleared.get_active_alert_oblasts() == []
    assert (
        email.utils.parsedate_to_datetime(
            client.cache["iot/active_air_raid_alerts_by_oblast.json"]["Last-Modified"]
        )
        < final_last_modified(datetime.now(UTC)) + SETTLE
    )


def test_alerts_in_ua_async_client(
    open_server: ServerProcess, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AsyncClient, "API_BASE_URL", open_server.url)
    issuer = Issuer(open_server, store_url)
    key = make_token(store_url, "bot", [], Role.READER)

    async def run() -> None:
        client = AsyncClient(token=key)
        assert len(await client.get_active_alerts()) == 0
        issuer.declare([KYIV_OBLAST], level="yellow")
        active = await client.get_active_alerts()
        assert [(a.location_uid, a.alert_level) for a in active] == [("14", "yellow")]
        v2 = await client.get_air_raid_alert_statuses_by_oblast(include_alert_level=True)
        assert [s.location_title for s in v2.get_yellow_alert_oblasts()] == ["Київська область"]
        assert (await client.get_air_raid_alert_status(78)).status == "active"
        assert (await client.get_air_raid_alert_statuses()).get_status(14).status == "active"
        issuer.clear(KYIV_OBLAST)
        assert len(await client.get_active_alerts()) == 0
        assert (
            await client.get_air_raid_alert_status(14, include_alert_level=True)
        ).status == "no_alert"
        history = await client.get_alerts_history(14)  # month_ago, the async default
        assert [a.alert_level for a in history] == ["yellow"] and history.alerts[0].is_finished()

    asyncio.run(run())


def test_uasiren_as_home_assistant_uses_it(
    open_server: ServerProcess, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SirenClient, "BASE_PATH", f"{open_server.url}/api/v3")
    issuer = Issuer(open_server, store_url)
    key = make_token(store_url, "home-assistant", [], Role.READER)

    async def run() -> None:
        # Home Assistant's session; the key rides on it as the Authorization header
        async with aiohttp.ClientSession(headers={"Authorization": key}) as session:
            client = SirenClient(session)
            # the config flow: states, then a district, then a community, by regionChildIds
            states = (await client.get_regions())["states"]
            lviv = next(s for s in states if s["regionName"] == "Львівська область")
            district = next(
                d for d in lviv["regionChildIds"] if d["regionName"] == "Львівський район"
            )
            community = district["regionChildIds"][0]
            assert community["regionChildIds"] == []
            picked = community["regionId"]

            async def sensors() -> dict[str, bool]:  # the coordinator's update
                res = await client.get_alerts(picked)
                current = dict.fromkeys(HA_ALERT_TYPES, False)
                for alert in res[0]["activeAlerts"]:
                    current[alert["type"]] = True
                return current

            assert not any((await sensors()).values())
            before = (await client.get_last_alert_index())["lastActionIndex"]
            issuer.declare([LVIV])
            assert (await sensors())["AIR"] is True
            issuer.declare([region_of(district["regionId"])], threat="chemical")
            assert {t for t, on in (await sensors()).items() if on} == {"AIR", "CHEMICAL"}
            seq = issuer.clear(LVIV)
            assert {t for t, on in (await sensors()).items() if on} == set()
            assert (await client.get_last_alert_index())["lastActionIndex"] == seq > before
            everywhere = await client.get_alerts()
            assert everywhere == []

    asyncio.run(run())


def region_of(uid: str) -> str:
    """Our region id of a place the API named."""
    loc = compat_locations().get(int(uid))
    assert loc is not None and loc.region_id is not None
    return loc.region_id


def test_clients_hear_401_and_429_as_the_originals_say(store_url: str, tmp_path: Path) -> None:
    limited = ["--alerts-in-ua-rate-limit", "3/min", "--ukrainealarm-rate-limit", "2/min"]
    server = ServerProcess(store_url, limited, cwd=tmp_path)
    server.start()
    try:
        key = make_token(store_url, "map", [], Role.READER)
        Client.API_BASE_URL, saved = server.url, Client.API_BASE_URL
        try:
            with pytest.raises(UnauthorizedError):
                Client(token="tv_wrong").get_active_alerts()
            client = Client(token=key)
            for _ in range(3):
                client.get_air_raid_alert_statuses_by_oblast(use_cache=False)
            with pytest.raises(RateLimitError, match="429"):
                client.get_active_alerts(use_cache=False)
            with pytest.raises(ApiError, match="404"):
                Client(
                    token=make_token(store_url, "other", [], Role.READER)
                ).get_air_raid_alert_status(2)
        finally:
            Client.API_BASE_URL = saved
        SirenClient.BASE_PATH, siren_saved = f"{server.url}/api/v3", SirenClient.BASE_PATH
        try:

            async def run() -> None:
                async with aiohttp.ClientSession(headers={"Authorization": key}) as session:
                    client = SirenClient(session)
                    await client.get_regions()
                    await client.get_alerts()
                    with pytest.raises(aiohttp.ClientResponseError) as refused:
                        await client.get_last_alert_index()
                    assert refused.value.status == 429  # the config flow's "rate_limit"
                    assert refused.value.headers is not None
                    assert 1 <= int(refused.value.headers["Retry-After"]) <= 30
                async with aiohttp.ClientSession() as session:
                    with pytest.raises(aiohttp.ClientResponseError) as refused:
                        await SirenClient(session).get_regions()
                    assert refused.value.status == 401

            asyncio.run(run())
        finally:
            SirenClient.BASE_PATH = siren_saved
    finally:
        server.stop()
