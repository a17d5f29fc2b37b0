"""The live streams over ASGI: Server-Sent Events at /api/v1/events and a WebSocket at
/api/v1/ws. Both resume after a seq and filter by region; the fan-out does the rest.

The HTTP front (server/front.py) serves the common case of both without ASGI; these
routes serve every other case (a connection that was handed to the app first, HTTP/1.0,
a seq this process has not reached yet) and share their rules with it.
"""

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
    "Access-Control-Allow-Origin": "*",
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


def last_event_id(header: str | None, after: int | None) -> Seq | None:
    """Where an SSE subscriber resumes: Last-Event-ID wins over ?after (browsers resend it)."""
    text = header.strip() if header else None
    if text:
        if not text.isdigit():
            raise Problem("invalid_parameter", f"Last-Event-ID: '{text[:40]}' is not a seq")
        return Seq(int(text))
    return None if after is None else Seq(after)


async def resume(fanout: Fanout, after: Seq | None) -> tuple[Seq | None, dict[str, object] | None]:
    """(where to resume, a resync note or None). A seq ahead of the log means the client
    saw events this log does not have (the store was replaced): it must reload its state,
    and gets everything from here on."""
    if after is None or await fanout.settle(after):
        return after, None
    return None, {"seq": fanout.feed.announced, "reason": "seq ahead of the log"}


def stream_filter(fanout: Fanout, regions: list[str], history: bool) -> Filter:
    try:
        ids = frozenset(fanout.tree.get(r).id for r in regions)
    except DomainError as e:
        raise from_domain(e) from None
    return Filter(ids, history)


def start(
    fanout: Fanout, sink: BufferSink, kind: Kind, flt: Filter, after: Seq | None
) -> asyncio.Task[None] | None:
    """Join at once when memory allows; else a task that catches up first. Either way the
    caller drains the sink from now on."""
    if fanout.join(sink, kind, flt, after):
        return None
    return asyncio.get_running_loop().create_task(fanout.subscribe(sink, kind, flt, after))


async def stop(fanout: Fanout, sink: BufferSink, *tasks: asyncio.Task[None] | None) -> None:
    fanout.unsubscribe(sink)
    for task in tasks:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class EventStream(Response):
    media_type = "text/event-stream"

    def __init__(self, fanout: Fanout, after: Seq | None, flt: Filter) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            *((k.lower().encode(), v.encode()) for k, v in SSE_HEADERS.items()),
        ]
        self.fanout = fanout
        self.after = after
        self.filter = flt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": RETRY, "more_body": True})
        sink = BufferSink()

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            sink.close()

        watcher = asyncio.get_running_loop().create_task(watch_disconnect())
        catching_up = None
        try:
            after, resync = await resume(self.fanout, self.after)
            if resync is not None:
                note = b"event: resync\ndata: " + orjson.dumps(resync) + b"\n\n"
                await send({"type": "http.response.body", "body": note, "more_body": True})
            catching_up = start(self.fanout, sink, Kind.SSE, self.filter, after)
            while not sink.closed:
                chunks = await sink.take()
                if chunks:
                    await send(
                        {"type": "http.response.body", "body": b"".join(chunks), "more_body": True}
                    )
        finally:
            await stop(self.fanout, sink, catching_up, watcher)


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
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    fanout: Fanout = request.app.state.services.fanout
    resume_after = last_event_id(last_event_id_header, after)
    return EventStream(fanout, resume_after, stream_filter(fanout, region, history))


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


def read_hello(fanout: Fanout, data: bytes | str) -> tuple[Seq | None, Filter]:
    """Where a WebSocket client resumes and what it follows."""
    try:
        hello = Hello.model_validate_json(data)
        flt = stream_filter(fanout, hello.regions, hello.history)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        raise HelloError(f"first message: {where}: {first['msg']}") from None
    except Problem as e:
        raise HelloError(f"first message: {e.detail}") from None
    return (None if hello.after is None else Seq(hello.after)), flt


def hello_message(seq: int) -> bytes:
    return orjson.dumps({"type": "hello", "seq": seq})


def error_message(detail: str) -> bytes:
    return orjson.dumps({"type": "error", "detail": detail})


def resync_message(note: dict[str, object]) -> bytes:
    return orjson.dumps({"type": "resync", **note})


@router.websocket("/ws")
async def websocket(ws: WebSocket) -> None:
    """Send {"after": seq|null, "regions": [ids]} first; then every event arrives as JSON."""
    fanout: Fanout = ws.app.state.services.fanout
    await ws.accept()
    try:
        raw = await asyncio.wait_for(ws.receive_text(), WS_HELLO_SECONDS)
        after, flt = read_hello(fanout, raw)
    except (HelloError, TimeoutError) as e:
        detail = (
            e.detail if isinstance(e, HelloError) else 'send {"after": seq, "regions": [ids]} first'
        )
        await ws.send_text(error_message(detail).decode())
        await ws.close(code=1008)
        return
    except WebSocketDisconnect:
        return
    after, resync = await resume(fanout, after)
    if resync is not None:
        await ws.send_text(resync_message(resync).decode())
    sink = BufferSink()
    seq = fanout.feed.announced
    catching_up = start(fanout, sink, Kind.JSON, flt, after)  # nothing can slip in before the hello
    await ws.send_text(hello_message(seq).decode())
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
                for line in chunk.splitlines():  # one message per event
                    await ws.send_text(line.decode())
    except WebSocketDisconnect:
        pass
    finally:
        await stop(fanout, sink, catching_up, watcher)
        if not gone:  # dropped as too slow: "try again later", and resume by seq
            with contextlib.suppress(Exception):
                await ws.close(code=1013)
