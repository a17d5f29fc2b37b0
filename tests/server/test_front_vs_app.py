"""The HTTP front against the app: every request the front answers itself (the hot-route
table: polls, streams, writes) gets exactly the answer the app gives, status, headers and
body, refusals included; everything else goes to the app.

Two servers on loopback, in this process: `tryvoha serve`'s own runner (the front), and
the same app under plain uvicorn (the app alone). Every answer is compared."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import uvicorn

from tests.conftest import KYIV_CITY, LVIV, StoreMaker
from tests.support.server import timeout
from tryvoha.config import Settings
from tryvoha.data import region_tree
from tryvoha.domain.scope import Role
from tryvoha.engine.auth import issue_token
from tryvoha.server.app import create_app
from tryvoha.server.front import asgi
from tryvoha.server.front.runner import front_of
from tryvoha.server.front.runner import serve as serve_front
from tryvoha.server.services import Services

pytestmark = pytest.mark.anyio
LIMIT = 4096


@dataclass
class Served:
    port: int
    services: Services
    to_app: list[str] = field(default_factory=list)  # request lines the front gave the app

    async def token(self, name: str, *scope: str) -> str:
        issued = await issue_token(
            self.services.store, region_tree(), name, Role.ISSUER, list(scope)
        )
        return issued.secret


async def serve(store_url: str, with_front: bool) -> AsyncIterator[Served]:
    settings = Settings(
        store=store_url,
        max_body_bytes=LIMIT,
        access_log=True,
        alerts_in_ua_rate_limit="40/min",  # type: ignore[arg-type]
    )
    ready: asyncio.Future[Services] = asyncio.get_running_loop().create_future()
    app = create_app(settings, on_ready=ready.set_result)
    if with_front:
        sock = socket.create_server(("127.0.0.1", 0))
        stop = asyncio.Event()
        front = front_of(app, settings)
        task = asyncio.create_task(serve_front(app, front, sock, lambda: None, stop))
        services = await asyncio.wait_for(ready, timeout(30))
        yield Served(sock.getsockname()[1], services)
        stop.set()
        await asyncio.wait_for(task, timeout(30))
        return
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
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
async def fronted(
    make_store_url: StoreMaker, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Served]:
    to_app: list[str] = []
    run_app = asgi.run_app

    async def recording(conn: Any, request: Any) -> None:
        to_app.append(f"{request.method} {request.target.decode()}")
        await run_app(conn, request)

    monkeypatch.setattr(asgi, "run_app", recording)
    async for served in serve(make_store_url("front"), with_front=True):
        served.to_app = to_app
        yield served


@pytest.fixture
async def plain(make_store_url: StoreMaker) -> AsyncIterator[Served]:
    async for served in serve(make_store_url("plain"), with_front=False):
        yield served


async def exchange(
    port: int, data: bytes, answers: int = 1, head: bool = False
) -> list[tuple[int, dict[str, str], bytes]]:
    """Send raw bytes on one connection; read `answers` final responses (Content-Length
    bodies; a 100 Continue is skipped)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    got: list[tuple[int, dict[str, str], bytes]] = []
    async with asyncio.timeout(timeout(10)):
        while len(got) < answers:
            top = await reader.readuntil(b"\r\n\r\n")
            lines = top.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            if status < 200:
                continue
            headers = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            length = 0 if head or status == 304 else int(headers.get("content-length", "0"))
            body = await reader.readexactly(length)
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


def shape(answer: tuple[int, dict[str, str], bytes], keep: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """What must be equal between two servers: ids, seqs, times and ETags may differ."""
    status, headers, body = answer
    data = orjson.loads(body) if body and body[:1] in b"{[" else None
    if isinstance(data, dict) and "alerts" in data:
        data = {
            "alerts": [(a["region_id"], a["level"], a["ended_at"] is None) for a in data["alerts"]]
        }
    elif isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in ("detail", "instance")}
    kept = ("content-type", "idempotent-replayed", "www-authenticate", *keep)
    shown = {k: headers[k] for k in kept if k in headers}
    if "etag" in shown:
        shown["etag"] = re.sub(r"[0-9a-f]{6,}", "E", shown["etag"])  # each store's epoch
    if isinstance(data, dict) and "seq" in data and "regions" in data:
        data = {"regions": data["regions"]}
    return status, shown, data


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
    assert fronted.to_app == []  # every one was the front's, refusals included
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


async def test_unusual_writes_get_the_apps_answers_from_the_front(
    fronted: Served, plain: Served
) -> None:
    """Bodies that do not validate, the wrong media type, a body over the limit, a bad
    query, a fragment, a chunked body, Expect: 100-continue: the front reads each whole
    and answers it as the app does."""
    answers: dict[str, list[tuple[Any, ...]]] = {}
    for served in (fronted, plain):
        ua = await served.token("all", "UA")
        cases = [
            request("POST", "/api/v1/alerts", ua, b'{"regions": [', **JSON),
            request("POST", "/api/v1/alerts", ua, b'{"regions": []}', **JSON),
            request("POST", "/api/v1/alerts", ua, declare_body(LVIV), content_type="text/plain"),
            request("POST", "/api/v1/alerts", ua, b'{"regions": ["\xff"]}', **JSON),
            request("POST", "/api/v1/regions/UA/clear?threat=nope", ua),
            request("PATCH", "/api/v1/alerts/nope", ua, b"{}", **JSON),
            request("POST", "/api/v1/alerts?src=a#x", ua, declare_body(KYIV_CITY), **JSON),
            request(
                "POST", "/api/v1/alerts", ua, declare_body(LVIV), expect="100-continue", **JSON
            ),
        ]
        body = declare_body(KYIV_CITY, level="yellow")
        chunked = request("POST", "/api/v1/alerts", ua, b"", transfer_encoding="chunked", **JSON)
        cases.append(chunked + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        got = []
        for data in cases:
            (answer,) = await exchange(served.port, data)
            got.append(shape(answer))
        answers["front" if served is fronted else "app"] = got
    assert answers["front"] == answers["app"]
    assert [a[0] for a in answers["front"]] == [400, 422, 415, 400, 422, 422, 201, 201, 200]
    assert fronted.to_app == []


async def test_a_body_over_the_limit_is_refused_before_it_is_read(fronted: Served) -> None:
    ua = await fronted.token("all", "UA")
    (answer,) = await exchange(
        fronted.port, request("POST", "/api/v1/alerts", ua, b"x" * (LIMIT + 1), **JSON)
    )
    assert answer[0] == 413 and orjson.loads(answer[2])["code"] == "body_too_large"
    assert answer[1]["connection"] == "close"


async def test_polls_and_stream_refusals_match_the_app(fronted: Served, plain: Served) -> None:
    answers: dict[str, list[tuple[Any, ...]]] = {}
    for served in (fronted, plain):
        ua = await served.token("all", "UA")
        (declared,) = await exchange(
            served.port, request("POST", "/api/v1/alerts", ua, declare_body(LVIV), **JSON)
        )
        got = []
        for path in ("/api/v1/alerts/active", "/api/v1/state", "/api/v1/regions"):
            (fresh,) = await exchange(served.port, request("GET", path, None))
            got.append(shape(fresh, keep=("etag", "cache-control", "access-control-allow-origin")))
            etag = fresh[1]["etag"]
            for tags in (etag, f"W/{etag}", f'"x", {etag}', "*", '"stale"'):
                (cond,) = await exchange(
                    served.port, request("GET", path, None, if_none_match=tags)
                )
                got.append(shape(cond, keep=("etag",)))
            (head,) = await exchange(served.port, request("HEAD", path, None), head=True)
            got.append(shape(head, keep=("content-length", "etag")))
        for query in ("after=x", "region=Atlantis", "history=yes", "after=1&region=UA&history=1"):
            if "UA&" in query:
                continue  # a good stream: compared by test_front's SSE tests
            (refused,) = await exchange(
                served.port, request("GET", f"/api/v1/events?{query}", None)
            )
            got.append(shape(refused))
        (bad_id,) = await exchange(
            served.port, request("GET", "/api/v1/events", None, last_event_id="abc")
        )
        got.append(shape(bad_id))
        answers["front" if served is fronted else "app"] = got
        assert declared[0] == 201
    assert answers["front"] == answers["app"]
    assert fronted.to_app == []


async def test_requests_behind_a_write_are_answered_in_order(fronted: Served) -> None:
    ua = await fronted.token("all", "UA")
    declare = request("POST", "/api/v1/alerts", ua, declare_body(LVIV), **JSON)
    active = request("GET", "/api/v1/alerts/active", None)
    # pipelined in one send: answered one after the other
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


async def test_the_access_log_has_every_request(
    fronted: Served, caplog: pytest.LogCaptureFixture
) -> None:
    ua = await fronted.token("all", "UA")
    with caplog.at_level(logging.INFO, logger="tryvoha.access"):
        (answer,) = await exchange(
            fronted.port, request("POST", "/api/v1/alerts", ua, declare_body(LVIV), **JSON)
        )
        await exchange(fronted.port, request("GET", "/api/v1/alerts/active", None))
        await exchange(fronted.port, request("GET", "/api/v1/regions/UA", None))
        await exchange(fronted.port, request("GET", "/v1/alerts/active.json?token=s3cret", ua))
    assert answer[0] == 201 and fronted.to_app == ["GET /api/v1/regions/UA"]
    lines = [r.getMessage() for r in caplog.records if r.name == "tryvoha.access"]
    assert not any("s3cret" in line or ua in line for line in lines), lines  # no secret
    assert any("/v1/alerts/active.json?token=*** HTTP/1.1" in line for line in lines), lines
    for line in (
        '"POST /api/v1/alerts HTTP/1.1" 201',
        '"GET /api/v1/alerts/active HTTP/1.1" 200',
        '"GET /api/v1/regions/UA HTTP/1.1" 200',
    ):
        assert any(line in logged for logged in lines), lines


COMPAT_POLLS = [
    "/v1/alerts/active.json",
    "/v1/iot/active_air_raid_alerts_by_oblast.json",
    "/v2/iot/active_air_raid_alerts_by_oblast.json",
    "/v1/iot/active_air_raid_alerts.json",
    "/v2/iot/active_air_raid_alerts/31.json",
    "/v1/iot/active_air_raid_alerts/27.json",
    "/v1/iot/active_air_raid_alerts/999999.json",  # no such place: 404
    "/api/v3/alerts",
    "/api/v3/alerts/status",
    "/api/v3/alerts/31",
    "/api/v3/alerts/0031",
    "/api/v3/alerts/99999",  # no such region: 404
    "/api/v3/regions",
    "/cap/feed.atom",
]


def compat_request(path: str, key: str | None, **headers: str) -> bytes:
    if key is not None and path.startswith("/api/v3/"):
        headers["authorization"] = key  # ukrainealarm: the whole header is the key
    elif key is not None and path.startswith("/v"):
        path += f"?token={key}" if "iot" in path else ""
        if "iot" not in path:
            headers["authorization"] = f"Bearer {key}"
    return request("GET", path, None, **headers)


def compat_shape(answer: tuple[int, dict[str, str], bytes]) -> tuple[Any, ...]:
    status, headers, body = answer
    kept = ("content-type", "cache-control", "retry-after", "www-authenticate")
    shown = {k: headers[k] for k in kept if k in headers}
    shown["has-etag"] = str("etag" in headers)
    shown["has-last-modified"] = str("last-modified" in headers)
    text = re.sub(
        rb"[0-9a-z]{26}|\d{4}-\d\d-\d\dT[\d:.]+Z?|\d{4}/\d\d/\d\d [\d:]+ \+0000", b"X", body
    )
    text = re.sub(rb'"(lastActionIndex|id|seq)": ?\d+', rb'"\1":N', text)
    return status, shown, text if not text.startswith(b"<?xml") else len(text) > 0


async def test_the_compatible_apis_and_the_feed_are_answered_by_the_front_as_by_the_app(
    fronted: Served, plain: Served
) -> None:
    """The polled routes of the alerts.in.ua and ukrainealarm APIs and the CAP feed: the
    front answers each itself, with its key check, its validators and its refusals."""
    answers: dict[str, list[tuple[Any, ...]]] = {}
    for served in (fronted, plain):
        issued = await issue_token(served.services.store, region_tree(), "led", Role.READER, [])
        reader = issued.secret
        ua = await served.token("all", "UA")
        (declared,) = await exchange(
            served.port,
            request("POST", "/api/v1/alerts", ua, declare_body(LVIV, KYIV_CITY), **JSON),
        )
        assert declared[0] == 201
        got = []
        for path in COMPAT_POLLS:
            (fresh,) = await exchange(served.port, compat_request(path, reader))
            got.append(compat_shape(fresh))
            if fresh[0] == 200:
                for name, header in (
                    ("etag", "if_none_match"),
                    ("last-modified", "if_modified_since"),
                ):
                    if name in fresh[1]:
                        (again,) = await exchange(
                            served.port, compat_request(path, reader, **{header: fresh[1][name]})
                        )
                        # an ETag matches at once; a date only once its second has settled
                        got.append(
                            (path, name, again[0] if name == "etag" else again[0] in (200, 304))
                        )
            (anonymous,) = await exchange(served.port, compat_request(path, None))
            got.append(compat_shape(anonymous))
        (bad_key,) = await exchange(served.port, compat_request(COMPAT_POLLS[0], "nope"))
        got.append(compat_shape(bad_key))
        for _ in range(40):  # past alerts.in.ua's limit for this key
            (last,) = await exchange(served.port, compat_request(COMPAT_POLLS[1], reader))
        got.append(compat_shape(last))
        answers["front" if served is fronted else "app"] = got
    assert answers["front"] == answers["app"]
    statuses = [a[0] for a in answers["front"] if isinstance(a[0], int)]
    assert {200, 401, 404, 429} <= set(statuses)
    assert all(a[2] == 304 for a in answers["front"] if len(a) == 3 and a[1] == "etag")
    assert fronted.to_app == []
