"""The HTTP front answers the hot paths itself and hands everything else to the app; both
must give the same answers, on fresh and on reused connections, pipelined or not."""

from __future__ import annotations

import asyncio
import re
import socket
import time

import httpx
import orjson
import pytest
import websockets

from tests.conftest import KYIV_CITY, LVIV
from tests.support.server import ServerProcess, make_token, timeout


def raw_exchange(port: int, payload: bytes, until: bytes, limit: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout(limit)) as sock:
        sock.sendall(payload)
        got = b""
        while until not in got:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def declare(server: ServerProcess, token: str, region: str) -> int:
    response = httpx.post(
        f"{server.url}/api/v1/alerts",
        json={"regions": [region]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201
    return int(response.json()["seq"])


def test_pipelined_requests_are_answered_in_order(server: ServerProcess, store_url: str) -> None:
    declare(server, make_token(store_url, "t", ["UA"]), LVIV)
    requests = (
        b"GET /api/v1/alerts/active HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /api/v1/state HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /api/v1/regions/UA80000000000093317 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /api/v1/alerts/active HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answer = raw_exchange(server.port, requests, b"never")
    assert answer.count(b"HTTP/1.1 200 OK") == 4
    first, second, third = (
        answer.index(b'"alerts"'),
        answer.index(b'"regions":{'),
        answer.index(b"\xd0\x9a\xd0\xb8\xd1\x97\xd0\xb2"),
    )
    assert first < second < third < answer.rindex(b'"alerts"')


def test_hot_get_matches_the_app_and_honours_if_none_match(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        fast = client.get("/api/v1/alerts/active")  # first request on the connection: the front
        client.get("/api/v1/regions/UA")  # handed over to the app from here on
        slow = client.get("/api/v1/alerts/active")
    assert fast.content == slow.content and fast.headers["etag"] == slow.headers["etag"]
    for name in ("content-type", "cache-control", "etag"):
        assert fast.headers[name] == slow.headers[name]
    cached = httpx.get(
        f"{server.url}/api/v1/alerts/active", headers={"If-None-Match": fast.headers["etag"]}
    )
    assert cached.status_code == 304 and cached.content == b""


def test_sse_is_the_same_on_a_fresh_and_on_a_reused_connection(
    server: ServerProcess, store_url: str
) -> None:
    token = make_token(store_url, "t", ["UA"])
    for region in (LVIV, KYIV_CITY):
        declare(server, token, region)

    def read(client: httpx.Client) -> list[str]:
        lines: list[str] = []
        with client.stream("GET", "/api/v1/events", params={"after": "0"}) as response:
            assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
            for line in response.iter_lines():
                lines.append(line)
                if line.startswith("id: 2"):
                    break
        return lines

    with httpx.Client(base_url=server.url, timeout=timeout(10)) as fresh:
        fast = read(fresh)
    with httpx.Client(base_url=server.url, timeout=timeout(10)) as reused:
        reused.get("/api/v1/regions/UA")  # the connection now belongs to the app
        slow = read(reused)
    assert fast == slow
    assert fast[0] == "retry: 1000"


def test_odd_stream_requests_get_the_apps_answers(server: ServerProcess, store_url: str) -> None:
    bad_id = httpx.get(f"{server.url}/api/v1/events", headers={"Last-Event-ID": "abc"})
    assert bad_id.status_code == 422 and bad_id.json()["code"] == "invalid_parameter"
    bad_region = httpx.get(f"{server.url}/api/v1/events", params={"region": "Atlantis"})
    assert bad_region.status_code == 422 and bad_region.json()["code"] == "unknown_region"
    garbage = raw_exchange(server.port, b"BLAH\r\n\r\n", b"\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400")
    declare(server, make_token(store_url, "t", ["UA"]), LVIV)
    with httpx.stream(
        "GET", f"{server.url}/api/v1/events", params={"after": "99"}, timeout=timeout(10)
    ) as response:
        lines = (line for line in response.iter_lines() if line)
        assert next(lines) == "retry: 1000"
        assert next(lines) == "event: resync"
        assert orjson.loads(next(lines)[6:]) == {"seq": 1, "reason": "seq ahead of the log"}


@pytest.mark.anyio
async def test_websocket_hello_errors_filters_and_resync(
    server: ServerProcess, store_url: str
) -> None:
    url = server.url.replace("http", "ws") + "/api/v1/ws"
    async with websockets.connect(url) as ws:
        await ws.send('{"after": "yesterday"}')
        error = orjson.loads(await ws.recv())
        assert error["type"] == "error" and "after" in error["detail"]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    token = await asyncio.to_thread(make_token, store_url, "t", ["UA"])
    async with websockets.connect(url) as ws:
        await ws.send(orjson.dumps({"after": None, "regions": [LVIV]}).decode())
        assert orjson.loads(await ws.recv()) == {"type": "hello", "seq": 0}
        await asyncio.to_thread(declare, server, token, KYIV_CITY)  # not Lviv: filtered out
        await asyncio.to_thread(declare, server, token, LVIV)
        event = orjson.loads(await asyncio.wait_for(ws.recv(), timeout(10)))
        assert event["seq"] == 2 and event["alert"]["region_id"] == LVIV
        pong = await ws.ping(b"still there?")  # control frames after the handshake
        await asyncio.wait_for(pong, timeout(10))
        await ws.close()
        assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1000
    async with websockets.connect(url) as ws:
        await ws.send('{"after": 50}')
        assert orjson.loads(await ws.recv())["type"] == "resync"
        assert orjson.loads(await ws.recv()) == {"type": "hello", "seq": 2}


def test_empty_lines_between_pipelined_requests_do_not_repeat_an_answer(
    server: ServerProcess,
) -> None:
    requests = (
        b"GET /api/v1/state HTTP/1.1\r\nHost: x\r\n\r\n"
        b"\r\n\r\n"  # stray empty lines before the next request (RFC 9112 2.2 lets servers skip them)
        b"GET /api/v1/state HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
    )
    answer = raw_exchange(server.port, requests, b"never")
    assert re.findall(rb"HTTP/1\.1 (\d{3})", answer) == [b"200", b"200", b"422"]


def test_a_poller_repeating_the_same_bytes_gets_fresh_answers(
    server: ServerProcess, store_url: str
) -> None:
    """Hot GETs are remembered by their bytes (the parser is skipped for the same bytes
    again); what is remembered is the request, never the answer."""
    token = make_token(store_url, "t", ["UA"])
    etag = httpx.get(f"{server.url}/api/v1/alerts/active").headers["etag"]
    poll = f"GET /api/v1/alerts/active HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout(10)) as sock:

        def ask() -> tuple[int, dict[str, str], bytes]:
            sock.sendall(poll.encode())
            got = b""
            while b"\r\n\r\n" not in got:
                got += sock.recv(65536)
            head, _, body = got.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
            while len(body) < int(headers.get("content-length", "0")):
                body += sock.recv(65536)
            return int(lines[0].split()[1]), headers, body

        first, second = ask(), ask()
        assert first[0] == second[0] == 304
        time.sleep(1.1)
        third = ask()
        assert third[0] == 304 and third[1]["date"] != first[1]["date"]  # a fresh Date
        seq = declare(server, token, LVIV)
        changed = ask()  # the same bytes, now with a stale ETag: the new state
        assert changed[0] == 200 and changed[1]["etag"] != etag
        assert orjson.loads(changed[2])["seq"] == seq
    closing = poll.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1).encode()
    for _ in range(2):  # remembered with its Connection: close
        answer = raw_exchange(server.port, closing, b"never")
        assert answer.startswith(b"HTTP/1.1 200 OK") and b"connection: close" in answer
