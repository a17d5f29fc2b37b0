"""The live streams through the ASGI app: Server-Sent Events and a WebSocket, for an app
served by another ASGI server (and for in-process tests). `tryvoha serve` answers both in
its HTTP front; these endpoints share its rules (`server/routes.py`) and its bounds: the
fan-out pushes to a buffer that one task sends from, a buffer above the high-water mark
gets nothing more pushed, and one that stays there is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
from fastapi import Request, WebSocket, WebSocketDisconnect
from starlette.responses import Response, StreamingResponse

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


def subscribe(fanout: Fanout, kind: Kind, ask: StreamAsk, hello: bool = False) -> BufferSink:
    sink = BufferSink()
    greeting = (lambda seq: orjson.dumps({"type": "hello", "seq": seq}) + b"\n") if hello else None
    sink.sub = fanout.subscribe(sink, kind, ask.filter, ask.after, greeting)
    return sink


async def event_frames(fanout: Fanout, ask: StreamAsk) -> AsyncIterator[bytes]:
    """The stream's bytes, for Starlette's StreamingResponse (which stops it when the
    client leaves)."""
    sink = subscribe(fanout, Kind.SSE, ask)
    try:
        yield RETRY
        while not sink.closed:
            data = await sink.take()
            if data:
                yield data
    finally:
        if sink.sub is not None:
            sink.sub.close()


async def events(request: Request) -> Response:
    services: Services = request.app.state.services
    ask = events_query(
        services.tree,
        query_pairs(request.scope["query_string"]),
        request.headers.get("last-event-id"),
        services.settings.max_stream_regions,
    )
    return StreamingResponse(
        event_frames(services.fanout, ask),
        media_type="text/event-stream",
        headers={k.decode(): v.decode() for k, v in SSE_HEADERS[1:]},
    )


async def websocket(ws: WebSocket) -> None:
    """Send {"after": seq|null, "regions": [ids]} first; then every event arrives as JSON."""
    services: Services = ws.app.state.services
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
