"""Writes through the HTTP front: the common form is carried out by the front itself, and
answered exactly as the app answers it; anything unusual goes to the app untouched.

Two servers on loopback, in this process: uvicorn with the front (as `tryvoha serve`
runs), and uvicorn with its own protocol (the app alone). Every answer is compared."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn

from tests.conftest import KYIV_CITY, LVIV
from tests.support.server import timeout
from tryvoha.config import Settings
from tryvoha.data import region_tree
from tryvoha.domain.scope import Role
from tryvoha.engine.auth import issue_token
from tryvoha.server import front as front_module
from tryvoha.server.app import create_app
from tryvoha.server.front import Front, make_front
from tryvoha.server.services import Services

pytestmark = pytest.mark.anyio
LIMIT = 4096


@dataclass
class Served:
    port: int
    services: Services
    handed_over: list[bytes] = field(default_factory=list)  # first lines, front only

    async def token(self, name: str, *scope: str) -> str:
        issued = await issue_token(
            self.services.store, region_tree(), name, Role.ISSUER, list(scope)
        )
        return issued.secret


async def serve(tmp: Path, with_front: bool) -> AsyncIterator[Served]:
    ready: asyncio.Future[Services] = asyncio.get_running_loop().create_future()
    settings = Settings(store=f"sqlite:///{tmp / 'log.db'}", max_body_bytes=LIMIT)
    front = Front()

    def on_ready(services: Services) -> None:
        front.services = services
        ready.set_result(services)

    extra: dict[str, Any] = {"http": make_front(front)} if with_front else {}
    config = uvicorn.Config(
        create_app(settings, on_ready=on_ready),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        loop="uvloop",
        access_log=True,
        **extra,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    services = await asyncio.wait_for(ready, timeout(30))
    while not server.started:
        await asyncio.sleep(0.01)
    yield Served(server.servers[0].sockets[0].getsockname()[1], services)
    server.should_exit = True
    await asyncio.wait_for(task, timeout(30))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def fronted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    (tmp_path / "front").mkdir()
    handed_over: list[bytes] = []
    handover = front_module.FrontProtocol._handover

    def recording(protocol: front_module.FrontProtocol) -> None:
        handed_over.append(bytes(protocol.buffer).lstrip().split(b"\r\n", 1)[0])
        handover(protocol)

    monkeypatch.setattr(front_module.FrontProtocol, "_handover", recording)
    async for served in serve(tmp_path / "front", with_front=True):
        served.handed_over = handed_over
        yield served


@pytest.fixture
async def plain(tmp_path: Path) -> AsyncIterator[Served]:
    (tmp_path / "plain").mkdir()
    async for served in serve(tmp_path / "plain", with_front=False):
        yield served


async def exchange(
    port: int, data: bytes, answers: int = 1
) -> list[tuple[int, dict[str, str], bytes]]:
    """Send raw bytes on one connection; read `answers` responses (Content-Length bodies)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    got = []
    async with asyncio.timeout(timeout(10)):
        for _ in range(answers):
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            got.append((status, headers, body))
    writer.close()
    return got


def request(method: str, path: str, token: str | None, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: tryvoha.test"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    if method in ("POST", "PATCH") and "transfer_encoding" not in headers:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


JSON = {"content_type": "application/json"}


def declare_body(*regions: str, **more: Any) -> bytes:
    return orjson.dumps({"regions": list(regions), **more})


def shape(answer: tuple[int, dict[str, str], bytes]) -> tuple[Any, ...]:
    """What must be equal between two servers: ids, seqs and times may differ."""
    status, headers, body = answer
    data = orjson.loads(body) if body else None
    if isinstance(data, dict) and "alerts" in data:
        data = {
            "alerts": [(a["region_id"], a["level"], a["ended_at"] is None) for a in data["alerts"]]
        }
    elif isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in ("detail", "instance")}
    kept = ("content-type", "idempotent-replayed", "www-authenticate", "connection")
    return status, {k: headers[k] for k in kept if k in headers}, data


async def scenario(served: Served) -> list[tuple[Any, ...]]:
    """Every kind of write and of refusal, each on a fresh connection."""
    ua = await served.token("all", "UA")
    lviv = await served.token("lviv", LVIV)
    port = served.port
    answers = []

    async def send(data: bytes) -> tuple[int, dict[str, str], bytes]:
        (answer,) = await exchange(port, data)
        answers.append(shape(answer))
        return answer

    first = await send(
        request(
            "POST",
            "/api/v1/alerts",
            ua,
            declare_body(LVIV, threats=["drones"]),
            idempotency_key="k1",
            **JSON,
        )
    )
    alert_id = orjson.loads(first[2])["alerts"][0]["id"]
    await send(
        request(
            "POST",
            "/api/v1/alerts",
            ua,
            declare_body(LVIV, threats=["drones"]),
            idempotency_key="k1",
            **JSON,
        )
    )
    await send(
        request("POST", "/api/v1/alerts", ua, declare_body(KYIV_CITY), idempotency_key="k1", **JSON)
    )
    await send(request("POST", "/api/v1/alerts", lviv, declare_body(KYIV_CITY), **JSON))
    await send(request("POST", "/api/v1/alerts", None, declare_body(LVIV), **JSON))
    await send(request("POST", "/api/v1/alerts", "not-a-token", declare_body(LVIV), **JSON))
    await send(
        request("POST", "/api/v1/alerts", ua, declare_body(LVIV), idempotency_key="bad key", **JSON)
    )
    await send(request("PATCH", f"/api/v1/alerts/{alert_id}", ua, b'{"level": "yellow"}', **JSON))
    await send(request("POST", f"/api/v1/alerts/{alert_id}/clear", ua))
    await send(request("POST", f"/api/v1/alerts/{alert_id}/clear", ua))
    await send(request("POST", "/api/v1/alerts/no-such-alert/clear", ua))
    await send(request("POST", "/api/v1/alerts", ua, declare_body(LVIV, KYIV_CITY), **JSON))
    await send(request("POST", f"/api/v1/regions/{LVIV}/clear?threat=air_raid", ua))
    await send(request("POST", "/api/v1/regions/UA/clear", ua))
    await send(request("POST", "/api/v1/regions/UA/clear", ua))
    await send(request("POST", "/api/v1/regions/UA99/clear", ua))
    return answers


async def test_common_writes_are_answered_by_the_front_as_the_app_answers_them(
    fronted: Served, plain: Served
) -> None:
    by_front = await scenario(fronted)
    by_app = await scenario(plain)
    # every one was the front's but the region the URL names wrongly: the app answers that
    assert fronted.handed_over == [b"POST /api/v1/regions/UA99/clear HTTP/1.1"]
    assert by_front == by_app
    statuses = [s[0] for s in by_front]
    assert statuses == [
        201,
        201,
        422,
        403,
        401,
        401,
        422,
        200,
        200,
        409,
        404,
        201,
        200,
        200,
        409,
        404,
    ]
    assert by_front[1][1]["idempotent-replayed"] == "true"
    assert by_front[4][1]["www-authenticate"] == "Bearer"


async def test_unusual_writes_go_to_the_app_untouched(fronted: Served) -> None:
    ua = await fronted.token("all", "UA")
    port = fronted.port
    cases = [
        (request("POST", "/api/v1/alerts", ua, b'{"regions": [', **JSON), 400, "malformed_json"),
        (request("POST", "/api/v1/alerts", ua, b'{"regions": []}', **JSON), 422, "invalid_body"),
        (
            request("POST", "/api/v1/alerts", ua, declare_body(LVIV), content_type="text/plain"),
            415,
            "unsupported_media_type",
        ),
        (request("POST", "/api/v1/alerts", ua, b"x" * (LIMIT + 1), **JSON), 413, "body_too_large"),
        (request("POST", "/api/v1/regions/UA/clear?threat=nope", ua), 422, "invalid_parameter"),
    ]
    for data, status, code in cases:
        (answer,) = await exchange(port, data)
        assert (answer[0], orjson.loads(answer[2])["code"]) == (status, code)
    fragment = request("POST", "/api/v1/alerts?src=a#x", ua, declare_body(KYIV_CITY), **JSON)
    (answer,) = await exchange(port, fragment)  # the app drops the fragment
    assert answer[0] == 201
    chunked = request("POST", "/api/v1/alerts", ua, b"", transfer_encoding="chunked", **JSON)
    body = declare_body(LVIV)
    chunked += b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    (answer,) = await exchange(port, chunked)
    assert answer[0] == 201
    assert len(fronted.handed_over) == len(cases) + 2
    assert all(line.startswith((b"POST", b"PATCH")) for line in fronted.handed_over)


async def test_requests_behind_a_write_are_answered_in_order(fronted: Served) -> None:
    ua = await fronted.token("all", "UA")
    declare = request("POST", "/api/v1/alerts", ua, declare_body(LVIV), **JSON)
    active = request("GET", "/api/v1/alerts/active", None)
    # pipelined in one send: the app takes the connection and answers both
    answers = await exchange(fronted.port, declare + active, answers=2)
    assert [a[0] for a in answers] == [201, 200]
    assert orjson.loads(answers[1][2])["seq"] == orjson.loads(answers[0][2])["seq"]
    # sent while the write is being carried out: read after it, answered after it
    reader, writer = await asyncio.open_connection("127.0.0.1", fronted.port)
    writer.write(request("POST", f"/api/v1/regions/{LVIV}/clear", ua))
    await writer.drain()
    writer.write(active)
    heads = b""
    async with asyncio.timeout(timeout(10)):
        while heads.count(b"HTTP/1.1 200 OK") < 2:
            heads += await reader.read(65536)
    writer.close()
    cleared, listed = re.findall(rb'"seq":(\d+)', heads)[:2]
    assert cleared == listed  # the GET saw the clear: it was answered after the write


async def test_a_write_stands_when_its_client_leaves_before_the_answer(fronted: Served) -> None:
    ua = await fronted.token("all", "UA")
    _, writer = await asyncio.open_connection("127.0.0.1", fronted.port)
    writer.write(request("POST", "/api/v1/alerts", ua, declare_body(KYIV_CITY), **JSON))
    await writer.drain()
    writer.close()
    engine = fronted.services.engine
    async with asyncio.timeout(timeout(10)):
        while not engine.projection.active():
            await asyncio.sleep(0.01)
    assert [a.region_id for a in engine.projection.active()] == [KYIV_CITY]
    (answer,) = await exchange(fronted.port, request("GET", "/api/v1/alerts/active", None))
    assert orjson.loads(answer[2])["seq"] == 1


async def test_writes_the_front_answers_are_in_the_access_log(
    fronted: Served, caplog: pytest.LogCaptureFixture
) -> None:
    ua = await fronted.token("all", "UA")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        (answer,) = await exchange(
            fronted.port, request("POST", "/api/v1/alerts", ua, declare_body(LVIV), **JSON)
        )
    assert answer[0] == 201 and fronted.handed_over == []
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any('"POST /api/v1/alerts HTTP/1.1" 201' in line for line in lines), lines
