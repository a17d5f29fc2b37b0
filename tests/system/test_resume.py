"""Guarantee 2: a subscriber that reconnects with the last seq it saw gets every later
event, in order, once. Subscribers drop their connection at random points while a writer
keeps declaring and clearing; what they end up with must equal the log, byte for byte."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from tests.conftest import LVIV
from tests.support.log import read_log
from tests.support.server import ServerProcess, make_token, timeout
from tryvoha.data import region_tree
from tryvoha.domain.regions import Level

pytestmark = pytest.mark.slow
EVENTS = 300


async def write_events(url: str, token: str, count: int) -> None:
    """Declare and clear in pairs until `count` events are in the log."""
    tree = region_tree()
    oblasts = [r.id for r in tree.at_level(Level.OBLAST)]
    hromadas = [r.id for r in tree.at_level(Level.HROMADA) if tree.oblast_of(r.id) == LVIV][:20]
    regions = oblasts + hromadas
    rng = random.Random(7)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        written = 0
        while written < count:
            region = rng.choice(regions)
            declared = await client.post("/api/v1/alerts", json={"regions": [region]})
            assert declared.status_code == 201, declared.text
            cleared = await client.post(
                f"/api/v1/alerts/{declared.json()['alerts'][0]['id']}/clear"
            )
            assert cleared.status_code == 200
            written = cleared.json()["seq"]
            await asyncio.sleep(rng.random() * 0.004)


async def sse_subscriber(url: str, until: int, rng: random.Random) -> list[bytes]:
    got: list[bytes] = []
    last = 0
    while last < until:
        headers = {"Last-Event-ID": str(last)}
        budget = rng.randint(1, 25)  # events to read before dropping the connection
        async with (
            httpx.AsyncClient(timeout=timeout(20)) as client,
            client.stream("GET", f"{url}/api/v1/events", headers=headers) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    raw = line[6:].encode()
                    got.append(raw)
                    last = orjson.loads(raw)["seq"]
                    budget -= 1
                    if budget == 0 or last >= until:
                        break  # drop the connection mid-stream
    return got


async def ws_subscriber(url: str, until: int, rng: random.Random) -> list[bytes]:
    got: list[bytes] = []
    last = 0
    while last < until:
        budget = rng.randint(1, 25)
        async with websockets.connect(url.replace("http", "ws") + "/api/v1/ws") as ws:
            await ws.send(orjson.dumps({"after": last, "regions": []}).decode())
            hello = orjson.loads(await ws.recv())
            assert hello["type"] == "hello"
            while budget and last < until:
                raw = (await asyncio.wait_for(ws.recv(), timeout(20))).encode()
                got.append(raw)
                last = orjson.loads(raw)["seq"]
                budget -= 1
    return got


@pytest.fixture
def busy_server(store_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """300 writes in a few seconds from one token: past its write limit, which is not what
    is tested here."""
    proc = ServerProcess(store_url, ["--token-write-rate-limit", "off"], cwd=tmp_path)
    proc.start()
    yield proc
    proc.stop()


def test_sse_and_websocket_subscribers_resume_without_loss_or_duplicates(
    busy_server: ServerProcess, store_url: str
) -> None:
    server = busy_server
    token = make_token(store_url, "writer", ["UA"])

    async def scenario() -> tuple[list[bytes], list[bytes]]:
        writing = asyncio.create_task(write_events(server.url, token, EVENTS))
        sse = asyncio.create_task(sse_subscriber(server.url, EVENTS, random.Random(1)))
        ws = asyncio.create_task(ws_subscriber(server.url, EVENTS, random.Random(2)))
        await writing
        return await asyncio.wait_for(sse, timeout(60)), await asyncio.wait_for(ws, timeout(60))

    sse_got, ws_got = asyncio.run(scenario())
    log = read_log(store_url)
    assert len(log) == EVENTS
    assert sse_got == log
    assert ws_got == log


def test_a_region_filter_keeps_the_region_its_ancestors_and_descendants(
    server: ServerProcess, store_url: str
) -> None:
    token = make_token(store_url, "writer", ["UA"])
    tree = region_tree()
    asyncio.run(write_events(server.url, token, 120))
    expected = [
        raw
        for raw in read_log(store_url)
        if tree.related(orjson.loads(raw)["alert"]["region_id"], LVIV)
    ]
    assert expected, "the writer should have touched Lviv"
    # a last Lviv event: the filtered stream must reach it with nothing else in between
    sentinel = httpx.post(
        f"{server.url}/api/v1/alerts",
        json={"regions": [LVIV], "threat": "chemical"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["seq"]

    async def read_filtered() -> list[bytes]:
        got: list[bytes] = []
        async with (
            httpx.AsyncClient(timeout=timeout(20)) as client,
            client.stream(
                "GET", f"{server.url}/api/v1/events", params={"after": "0", "region": LVIV}
            ) as response,
        ):
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    got.append(line[6:].encode())
                    if orjson.loads(got[-1])["seq"] == sentinel:
                        break
        return got

    got = asyncio.run(read_filtered())
    assert got[:-1] == expected
    assert orjson.loads(got[-1])["alert"]["threat"] == "chemical"
