"""The live streams over ASGI: Server-Sent Events at /api/v1/events and a WebSocket at
/api/v1/ws. Both resume after a seq and filter by region; the fan-out does the rest."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tryvoha.domain.errors import DomainError
from tryvoha.domain.events import Seq
from tryvoha.protocol.sse import RETRY
from tryvoha.server.fanout import Fanout, Filter, Kind
from tryvoha.server.problems import Problem, from_domain

router = APIRouter(prefix="/api/v1")

WS_HELLO_SECONDS = 10.0
SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",  # nginx: pass each event on at once
}


class BufferSink:
    """A subscriber behind an ASGI server: the fan-out appends, one task sends."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.closed = False
        self.ready = asyncio.Event()

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.chunks.append(data)
            self.size += len(data)
            self.ready.set()

    def get_write_buffer_size(self) -> int:
        return self.size

    def close(self) -> None:
        self.closed = True
        self.ready.set()

    def is_closing(self) -> bool:
        return self.closed

    async def take(self) -> list[bytes]:
        """Wait for data (or close); everything written so far."""
        await self.ready.wait()
        self.ready.clear()
        chunks, self.chunks, self.size = self.chunks, [], 0
        return chunks


def resume_point(
    last_event_id: str | None, after: int | None, fanout: Fanout
) -> tuple[Seq | None, bytes]:
    """Where a subscriber resumes: Last-Event-ID wins over ?after (browsers resend it)."""
    text = last_event_id.strip() if last_event_id else None
    if text:
        if not text.isdigit():
            raise Problem("invalid_parameter", f"Last-Event-ID: '{text[:40]}' is not a seq")
        after = int(text)
    if after is None:
        return None, b""
    if after > fanout.feed.seq:
        # The client saw events this log does not have (the store was replaced): it must
        # reload its state; it gets everything from here on.
        note = orjson.dumps({"seq": fanout.feed.seq, "reason": "seq ahead of the log"})
        return None, b"event: resync\ndata: " + note + b"\n\n"
    return Seq(after), b""


def stream_filter(fanout: Fanout, regions: list[str], history: bool) -> Filter:
    try:
        ids = frozenset(fanout.tree.get(r).id for r in regions)
    except DomainError as e:
        raise from_domain(e) from None
    return Filter(ids, history)


class EventStream(Response):
    media_type = "text/event-stream"

    def __init__(self, fanout: Fanout, after: Seq | None, flt: Filter, preface: bytes) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            *((k.lower().encode(), v.encode()) for k, v in SSE_HEADERS.items()),
        ]
        self.fanout = fanout
        self.after = after
        self.filter = flt
        self.preface = preface

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": RETRY + self.preface, "more_body": True})
        sink = BufferSink()

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            sink.close()

        watcher = asyncio.get_running_loop().create_task(watch_disconnect())
        try:
            await self.fanout.subscribe(sink, Kind.SSE, self.filter, self.after)
            while not sink.closed:
                chunks = await sink.take()
                if chunks:
                    await send(
                        {"type": "http.response.body", "body": b"".join(chunks), "more_body": True}
                    )
        finally:
            self.fanout.unsubscribe(sink)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


@router.get(
    "/events",
    response_class=EventStream,
    status_code=200,
    summary="Server-Sent Events: every alert event, resumable with Last-Event-ID or ?after",
)
async def events(
    request: Request,
    after: Annotated[int | None, Query(ge=0, description="resume after this seq")] = None,
    region: Annotated[
        list[str], Query(description="only events of these regions, above or below them")
    ] = [],  # noqa: B006
    history: Annotated[
        bool,
        Query(description="also events imported from the historical record (issuer history:…)"),
    ] = False,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    fanout: Fanout = request.app.state.services.fanout
    resume, preface = resume_point(last_event_id, after, fanout)
    return EventStream(fanout, resume, stream_filter(fanout, region, history), preface)


class Hello(BaseModel):
    """A WebSocket client's first message."""

    model_config = ConfigDict(extra="forbid")
    after: int | None = Field(default=None, ge=0)
    regions: list[str] = Field(default_factory=list, max_length=2000)
    history: bool = False


class HelloError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def read_hello(fanout: Fanout, data: bytes | str) -> tuple[Seq | None, Filter, list[bytes]]:
    """Where a WebSocket client resumes, what it follows, and the messages it gets before
    its hello (a resync note when its seq is ahead of the log)."""
    try:
        hello = Hello.model_validate_json(data)
        flt = stream_filter(fanout, hello.regions, hello.history)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        raise HelloError(f"first message: {where}: {first['msg']}") from None
    except Problem as e:
        raise HelloError(f"first message: {e.detail}") from None
    if hello.after is not None and hello.after > fanout.feed.seq:
        note = {"type": "resync", "seq": fanout.feed.seq, "reason": "seq ahead of the log"}
        return None, flt, [orjson.dumps(note)]
    return (None if hello.after is None else Seq(hello.after)), flt, []


def hello_message(seq: int) -> bytes:
    return orjson.dumps({"type": "hello", "seq": seq})


def error_message(detail: str) -> bytes:
    return orjson.dumps({"type": "error", "detail": detail})


@router.websocket("/ws")
async def websocket(ws: WebSocket) -> None:
    """Send {"after": seq|null, "regions": [ids]} first; then every event arrives as JSON."""
    fanout: Fanout = ws.app.state.services.fanout
    await ws.accept()
    try:
        raw = await asyncio.wait_for(ws.receive_text(), WS_HELLO_SECONDS)
        after, flt, notes = read_hello(fanout, raw)
    except (HelloError, TimeoutError) as e:
        detail = (
            e.detail if isinstance(e, HelloError) else 'send {"after": seq, "regions": [ids]} first'
        )
        await ws.send_text(error_message(detail).decode())
        await ws.close(code=1008)
        return
    except WebSocketDisconnect:
        return
    for note in notes:
        await ws.send_text(note.decode())
    sink = BufferSink()
    await ws.send_text(hello_message(fanout.feed.seq).decode())
    await fanout.subscribe(sink, Kind.JSON, flt, after)

    gone = False

    async def watch_disconnect() -> None:
        nonlocal gone
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await ws.receive_text()  # clients have nothing more to say; ignore it
        gone = True
        sink.close()

    watcher = asyncio.get_running_loop().create_task(watch_disconnect())
    try:
        while not sink.closed:
            for chunk in await sink.take():
                await ws.send_text(chunk.decode())
    except WebSocketDisconnect:
        pass
    finally:
        fanout.unsubscribe(sink)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        if not gone:  # dropped as too slow: "try again later", and resume by seq
            with contextlib.suppress(Exception):
                await ws.close(code=1013)
