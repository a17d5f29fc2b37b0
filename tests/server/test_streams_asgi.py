"""The streams through the app (not the HTTP front): what a connection gets once it was
handed to the app, or behind a plain ASGI server. Same rules, same bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
import uvicorn
import websockets

from tests.conftest import KYIV_CITY, LVIV
from tests.support.server import timeout
from tryvoha.config import Settings
from tryvoha.data import region_tree
from tryvoha.domain.alerts import Alert, AlertId, AlertLevel, ThreatType
from tryvoha.domain.events import EventType, PendingEvent
from tryvoha.domain.regions import RegionId
from tryvoha.domain.scope import Role
from tryvoha.engine.auth import issue_token
from tryvoha.server.app import create_app
from tryvoha.server.services import Services

pytestmark = pytest.mark.anyio


class Plain:
    def __init__(self, url: str, services: Services) -> None:
        self.url = url
        self.services = services

    async def token(self) -> dict[str, str]:
        issued = await issue_token(self.services.store, region_tree(), "t", Role.ISSUER, ["UA"])
        return {"Authorization": f"Bearer {issued.secret}"}


@pytest.fixture
async def plain(store_url: str) -> AsyncIterator[Plain]:
    """The app behind uvicorn's own protocols on loopback: no HTTP front."""
    ready: asyncio.Future[Services] = asyncio.get_running_loop().create_future()
    app = create_app(Settings(store=store_url), on_ready=ready.set_result)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    services = await asyncio.wait_for(ready, timeout(30))
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield Plain(f"http://127.0.0.1:{port}", services)
    server.should_exit = True
    await asyncio.wait_for(task, timeout(30))


async def test_websocket_sends_one_message_per_event_of_a_commit(plain: Plain) -> None:
    auth = await plain.token()
    async with websockets.connect(plain.url.replace("http", "ws") + "/api/v1/ws") as ws:
        await ws.send('{"after": 0}')
        assert orjson.loads(await ws.recv()) == {"type": "hello", "seq": 0}
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                f"{plain.url}/api/v1/alerts", json={"regions": [LVIV, KYIV_CITY]}, headers=auth
            )
        assert answer.status_code == 201
        first, second = orjson.loads(await ws.recv()), orjson.loads(await ws.recv())
        assert (first["seq"], second["seq"]) == (1, 2)
        assert {first["alert"]["region_id"], second["alert"]["region_id"]} == {LVIV, KYIV_CITY}


async def test_websocket_resync_and_errors(plain: Plain) -> None:
    url = plain.url.replace("http", "ws") + "/api/v1/ws"
    async with websockets.connect(url) as ws:
        await ws.send('{"after": 7}')
        assert orjson.loads(await ws.recv())["type"] == "resync"
        assert orjson.loads(await ws.recv()) == {"type": "hello", "seq": 0}
    async with websockets.connect(url) as ws:
        await ws.send('{"regions": ["Atlantis"]}')
        error = orjson.loads(await ws.recv())
        assert error["type"] == "error" and "Atlantis" in error["detail"]


async def test_sse_catch_up_longer_than_a_socket_buffer_does_not_stall(plain: Plain) -> None:
    """Megabytes of old events, read from the log: the app must send while it reads."""
    store = plain.services.store
    events = []
    for i in range(2000):
        events.extend(pairs(i, LVIV if i % 2 else KYIV_CITY))
    last = await store.append_batch(events)
    await plain.services.engine.catch_up()
    plain.services.engine.feed.recent.clear()  # every old event comes through the store
    got = 0
    async with (
        httpx.AsyncClient(timeout=timeout(30)) as client,
        client.stream("GET", f"{plain.url}/api/v1/events", params={"after": "0"}) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                got += 1
                if int(line[4:]) == last:
                    break
    assert got == last == 4000


def pairs(n: int, region: RegionId) -> list[PendingEvent]:
    at = datetime(2024, 11, 13, tzinfo=UTC) + timedelta(minutes=n)
    alert = Alert(
        AlertId(f"p{n}"), region, ThreatType.AIR_RAID, AlertLevel.RED, (), None, at, at, None, "t"
    )
    return [
        PendingEvent(EventType.DECLARED, at, "t", alert),
        PendingEvent(EventType.CLEARED, at, "t", replace(alert, ended_at=at)),
    ]
