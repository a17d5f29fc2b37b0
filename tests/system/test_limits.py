"""Limits for everyone, answered honestly: 429 problem+json with Retry-After for a client
over its request rate or its streams, and for a token over its writes; behind a trusted
proxy each client that proxy names is counted apart. Refusals are counted by reason."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from tests.conftest import KYIV_CITY, LVIV
from tests.support.server import ServerProcess, make_token, timeout


@pytest.fixture
def limited(store_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(
        store_url,
        cwd=tmp_path,
        env={
            "TRYVOHA_CLIENT_RATE_LIMIT": "30/min",
            "TRYVOHA_MAX_STREAMS_PER_CLIENT": "3",
            "TRYVOHA_TOKEN_WRITE_RATE_LIMIT": "2/min",
            "TRYVOHA_TRUSTED_PROXIES": "127.0.0.2",
        },
    )
    server.start()
    yield server
    server.stop()


def assert_429(answer: httpx.Response, code: str) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.json()["code"] == code


def test_a_client_over_its_request_rate_gets_429(limited: ServerProcess) -> None:
    with httpx.Client(base_url=limited.url) as client:
        answers = [client.get("/api/v1/alerts/active").status_code for _ in range(30)]
        assert answers == [200] * 30
        assert_429(client.get("/api/v1/alerts/active"), "rate_limited")
        assert_429(client.get("/api/v1/regions/UA"), "rate_limited")  # the app's routes too
    health = httpx.get(f"{limited.url}/api/v1/health", headers={"X-Forwarded-For": "1.2.3.4"})
    assert health.status_code == 429  # X-Forwarded-For from an untrusted peer changes nothing


def test_behind_a_trusted_proxy_each_client_it_names_counts_apart(limited: ServerProcess) -> None:
    proxy = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=limited.url, transport=proxy) as client:
        for address in ("198.51.100.1", "198.51.100.2"):
            headers = {"X-Forwarded-For": f"6.6.6.6, {address}"}
            statuses = [client.get("/api/v1/state", headers=headers).status_code for _ in range(31)]
            assert statuses == [200] * 30 + [429], address
        health = client.get("/api/v1/health", headers={"X-Forwarded-For": "198.51.100.3"}).json()
    assert health["refused"]["rate_limited"] == 2


def test_a_client_may_hold_only_so_many_streams(limited: ServerProcess) -> None:
    async def run() -> None:
        async with httpx.AsyncClient(base_url=limited.url, timeout=timeout(10)) as client:
            streams = [client.stream("GET", "/api/v1/events") for _ in range(3)]
            opened = [await s.__aenter__() for s in streams]
            assert all(r.status_code == 200 for r in opened)
            assert_429(await client.get("/api/v1/events"), "too_many_streams")
            url = limited.url.replace("http", "ws") + "/api/v1/ws"
            async with websockets.connect(url) as ws:
                await ws.send("{}")
                error = orjson.loads(await ws.recv())
                assert error["type"] == "error" and "streams" in error["detail"]
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            await streams[0].__aexit__(None, None, None)  # one closes: another may open
            for _ in range(50):
                again = client.stream("GET", "/api/v1/events")
                answer = await again.__aenter__()
                if answer.status_code == 200:
                    await again.__aexit__(None, None, None)
                    break
                await again.__aexit__(None, None, None)
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the freed stream was not given back")
            for s in streams[1:]:
                await s.__aexit__(None, None, None)

    asyncio.run(run())


def test_a_token_over_its_write_rate_gets_429(limited: ServerProcess) -> None:
    token = make_token(limited.store_url, "duty", ["UA"])
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=limited.url, headers=headers) as client:
        assert client.post("/api/v1/alerts", json={"regions": [LVIV]}).status_code == 201
        assert client.post("/api/v1/alerts", json={"regions": [KYIV_CITY]}).status_code == 201
        refused = client.post("/api/v1/regions/UA/clear")
        assert_429(refused, "rate_limited")
        assert "duty" in refused.json()["detail"]
        assert client.get("/api/v1/alerts/active").json()["seq"] == 2  # nothing written
