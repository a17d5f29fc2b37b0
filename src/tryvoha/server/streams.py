"""The live streams through the ASGI app: Server-Sent Events and a WebSocket, for an app
served by another ASGI server (and for in-process tests). `tryvoha serve` answers both in
its HTTP front; these endpoints share its rules (`server/routes.py`) and its bounds: the
fan-out pushes to a buffer that one task sends from, a buffer above the high-water mark
gets nothing more pushed, and one that stays there is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from fastapi import Request, WebSocket, WebSocketDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tryvoha.protocol.sse import RETRY
from tryvoha.server.fanout import Fanout, Kind, Subscriber
from tryvoha.server.problems import Problem
from tryvoha.server.routes import StreamAsk, events_query, query_pairs, read_hello
from tryvoha.server.services import Services

HIGH_WATER = 65_536
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
    (b"access-control-allow-origin", b"*"),
]


class BufferSink:
    """A subscriber behind an ASGI server: the fan-out appends, one task sends."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.closed = False
        self.congested = False
        self.sub: Subscriber | None = None
        self.ready = asyncio.Event()

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        self.chunks.append(data)
        self.size += len(data)
        self.ready.set()
        if self.size > HIGH_WATER and not self.congested:
            self.congested = True
            if self.sub is not None:
                self.sub.congested()

    def abort(self) -> None:
        self.closed = True
        self.chunks.clear()
        self.ready.set()

    def is_closing(self) -> bool:
        return self.closed

    async def take(self) -> bytes:
        """Wait for data (or the end); everything written so far."""
        await self.ready.wait()
        self.ready.clear()
        data, self.chunks, self.size = b"".join(self.chunks), [], 0
        if self.congested:
            self.congested = False
            if self.sub is not None:
                self.sub.drained()
        return data


def _services(scope_app: object) -> Services:
    services: Services = scope_app.state.services  # type: ignore[attr-defined]
    return services


def subscribe(fanout: Fanout, kind: Kind, ask: StreamAsk, hello: bool = False) -> BufferSink:
    sink = BufferSink()
    greeting = (lambda seq: orjson.dumps({"type": "hello", "seq": seq}) + b"\n") if hello else None
    sink.sub = fanout.subscribe(sink, kind, ask.filter, ask.after, greeting)
    return sink


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(self, fanout: Fanout, ask: StreamAsk) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = list(SSE_HEADERS)
        self.fanout = fanout
        self.ask = ask

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": RETRY, "more_body": True})
        sink = subscribe(self.fanout, Kind.SSE, self.ask)

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            sink.abort()

        watcher = asyncio.get_running_loop().create_task(watch_disconnect())
        try:
            while not sink.closed:
                data = await sink.take()
                if data:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
        finally:
            watcher.cancel()
            if sink.sub is not None:
                sink.sub.close()


async def events(request: Request) -> Response:
    services = _services(request.app)
    ask = events_query(
        services.tree,
        query_pairs(request.scope["query_string"]),
        request.headers.get("last-event-id"),
        services.settings.max_stream_regions,
    )
    return EventStreamResponse(services.fanout, ask)


async def websocket(ws: WebSocket) -> None:
    """Send {"after": seq|null, "regions": [ids]} first; then every event arrives as JSON."""
    services = _services(ws.app)
    await ws.accept()
    try:
        raw = await asyncio.wait_for(ws.receive_text(), services.settings.ws_hello_seconds)
        ask = read_hello(services.tree, raw, services.settings.max_stream_regions)
    except (Problem, TimeoutError) as e:
        detail = (
            e.detail if isinstance(e, Problem) else 'send {"after": seq, "regions": [ids]} first'
        )
        await ws.send_text(orjson.dumps({"type": "error", "detail": detail}).decode())
        await ws.close(code=1008)
        return
    except WebSocketDisconnect:
        return
    sink = subscribe(services.fanout, Kind.JSON, ask, hello=True)
    gone = False

    async def watch_disconnect() -> None:
        nonlocal gone
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await ws.receive_text()  # clients have nothing more to say; ignore it
        gone = True
        sink.abort()

    watcher = asyncio.get_running_loop().create_task(watch_disconnect())
    try:
        while not sink.closed:
            for line in (await sink.take()).splitlines():  # one message per event
                await ws.send_text(line.decode())
    except WebSocketDisconnect:
        pass
    finally:
        watcher.cancel()
        if sink.sub is not None:
            sink.sub.close()
        if not gone:  # dropped as too slow: "try again later", and resume by seq
            with contextlib.suppress(Exception):
                await ws.close(code=1013)
