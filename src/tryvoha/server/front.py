"""The HTTP front: the first code to see each connection.

It parses requests itself (httptools) and answers the hot paths without the ASGI stack:
`GET /api/v1/events` (SSE) and `GET /api/v1/ws` (WebSocket) become sockets in the fan-out,
written to directly with frames encoded once per event; `GET /api/v1/alerts/active` and
`GET /api/v1/state` are answered from pre-encoded bodies. Anything else, and anything
unusual about a hot request, is handed to uvicorn's own protocol with every byte read so
far, and from then on that connection is uvicorn's: one set of routes, one set of errors.
"""

from __future__ import annotations

import asyncio
import logging
from enum import Enum
from typing import Any, ClassVar, cast
from urllib.parse import parse_qsl

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from tryvoha.domain.events import Seq
from tryvoha.domain.regions import RegionId
from tryvoha.protocol.sse import LAST_CHUNK, RETRY, WS_GOING_AWAY, chunk, ws_text_frame
from tryvoha.server.fanout import Filter, Kind
from tryvoha.server.problems import Problem
from tryvoha.server.services import Services
from tryvoha.server.streams import (
    HelloError,
    error_message,
    hello_message,
    last_event_id,
    read_hello,
    resume,
    resync_message,
)
from tryvoha.server.views import Cached

log = logging.getLogger(__name__)

HEAD_SECONDS = 10.0  # to send a request's head
KEEP_ALIVE_SECONDS = 5.0  # idle between requests
WS_HELLO_SECONDS = 10.0
MAX_HEAD_BYTES = 16_384

SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache, no-transform\r\n"
    b"x-accel-buffering: no\r\n"
    b"access-control-allow-origin: *\r\n"
    b"transfer-encoding: chunked\r\n"
)


class Front:
    """What the front serves from; filled in when the app has started."""

    services: Services | None = None


class Mode(Enum):
    READING = 1  # parsing requests, answering hot GETs
    HANDOVER = 2  # this request goes to uvicorn
    STREAM = 3  # an SSE subscriber
    WS_HELLO = 4  # a WebSocket, waiting for its first message
    WEBSOCKET = 5  # a WebSocket subscriber
    DONE = 6  # handed over or closed


def make_front(front: Front) -> type[FrontProtocol]:
    """The protocol class uvicorn instantiates per connection (`Config(http=...)`)."""
    return type("BoundFrontProtocol", (FrontProtocol,), {"front": front, "__slots__": ()})


class FrontProtocol(asyncio.Protocol):
    front: ClassVar[Front]

    __slots__ = (
        "activity",
        "app_state",
        "buffer",
        "config",
        "headers",
        "loop",
        "mode",
        "parser",
        "period",
        "server_state",
        "timer",
        "transport",
        "url",
        "ws",
    )

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop or asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self.buffer = bytearray()
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.mode = Mode.READING
        self.timer: asyncio.TimerHandle | None = None
        self.activity = 0  # bumped whenever the idle timer is re-armed
        self.period = HEAD_SECONDS
        self.ws: ServerProtocol | None = None

    # -- asyncio.Protocol -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.server_state.connections.add(self)  # type: ignore[arg-type]
        self._arm(HEAD_SECONDS)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.server_state.connections.discard(self)
        services = self.front.services
        if self.mode in (Mode.STREAM, Mode.WEBSOCKET) and services is not None and self.transport:
            services.fanout.unsubscribe(self.transport)
        self.mode = Mode.DONE
        self.parser = None

    def data_received(self, data: bytes) -> None:
        if self.mode is Mode.STREAM:
            return  # an SSE subscriber has nothing more to say
        if self.mode in (Mode.WS_HELLO, Mode.WEBSOCKET):
            self._ws_received(data)
            return
        if self.mode is not Mode.READING or self.parser is None:
            return
        self.buffer += data
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # a WebSocket handshake: handled (or handed over) in on_headers_complete
        except httptools.HttpParserError:
            self.mode = Mode.HANDOVER  # uvicorn answers 400
        if self.mode is Mode.READING and len(self.buffer) > MAX_HEAD_BYTES:
            self.mode = Mode.HANDOVER
        if self.mode is Mode.HANDOVER:
            self._handover()
        elif self.mode is Mode.READING:
            self._arm(HEAD_SECONDS if self.buffer else KEEP_ALIVE_SECONDS)

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: streams end properly, idle connections close."""
        if self.transport is not None and not self.transport.is_closing():
            if self.mode is Mode.STREAM:
                self.transport.write(LAST_CHUNK)
            elif self.mode in (Mode.WS_HELLO, Mode.WEBSOCKET):
                self.transport.write(WS_GOING_AWAY)
            self.transport.close()

    # -- httptools callbacks --------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = {}

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        if self.mode is not Mode.READING or self.parser is None or self.front.services is None:
            self.mode = Mode.HANDOVER if self.mode is Mode.READING else self.mode
            return
        hot = (
            self.parser.get_method() == b"GET"
            and self.parser.get_http_version() == "1.1"
            and b"content-length" not in self.headers
            and b"transfer-encoding" not in self.headers
        )
        path, _, query = self.url.partition(b"?")
        services = self.front.services
        if path != b"/api/v1/ws" and b"upgrade" in self.headers:
            hot = False  # an upgrade we do not serve: the app declines it properly
        if hot and path == b"/api/v1/alerts/active":
            self._answer(services.views.active())
        elif hot and path == b"/api/v1/state":
            self._answer(services.views.state())
        elif hot and path == b"/api/v1/events" and self._open_stream(services, query):
            return
        elif hot and path == b"/api/v1/ws" and self._open_websocket():
            return
        else:
            self.mode = Mode.HANDOVER

    # -- hot GETs -----------------------------------------------------------------------

    def _answer(self, cached: Cached) -> None:
        assert self.transport is not None and self.parser is not None
        del self.buffer[
            : _head_end(self.buffer)
        ]  # this request's bytes; a pipelined next one stays
        keep_alive = self.parser.should_keep_alive()
        not_modified = _etag_matches(self.headers.get(b"if-none-match"), cached.etag)
        self.transport.write(_response(cached, self.server_state, not_modified, keep_alive))
        self.server_state.total_requests += 1
        if not keep_alive:
            self.transport.close()
            self.mode = Mode.DONE

    # -- Server-Sent Events ----------------------------------------------------------------

    def _open_stream(self, services: Services, query: bytes) -> bool:
        """Join the fan-out; False (hand over) for anything the common case does not cover."""
        assert self.transport is not None
        after: Seq | None = None
        regions: list[RegionId] = []
        history = False
        try:
            for name, value in parse_qsl(query.decode("ascii"), keep_blank_values=True):
                if name == "after" and value.isdigit():
                    after = Seq(int(value))
                elif name == "region" and value in services.tree:
                    regions.append(RegionId(value))
                elif name == "history" and value in ("true", "false", "1", "0"):
                    history = value in ("true", "1")
                else:
                    return False
        except UnicodeDecodeError:
            return False
        header = self.headers.get(b"last-event-id")
        try:
            after = last_event_id(None if header is None else header.decode("latin-1"), after)
        except Problem:
            return False  # the app answers with the problem
        if after is not None and after > services.engine.seq:
            return False  # the resync answer comes from the app
        transport = self.transport
        transport.write(SSE_HEAD + b"\r\n" + chunk(RETRY))
        self.server_state.total_requests += 1
        self._stream_mode(Mode.STREAM)
        flt = Filter(frozenset(regions), history)
        if not services.fanout.join(transport, Kind.SSE_CHUNKED, flt, after):
            task = self.loop.create_task(
                services.fanout.subscribe(transport, Kind.SSE_CHUNKED, flt, after)
            )
            task.add_done_callback(_log_failure)
        return True

    def _stream_mode(self, mode: Mode) -> None:
        """A subscriber: free what parsing needed; nothing times it out but a slow socket."""
        self.mode = mode
        self.parser = None
        self.buffer = bytearray()
        self.headers = {}
        self.url = b""

    # -- WebSocket -----------------------------------------------------------------------------

    def _open_websocket(self) -> bool:
        assert self.transport is not None
        connection = self.headers.get(b"connection", b"").lower()
        if (
            self.headers.get(b"upgrade", b"").lower() != b"websocket"
            or b"upgrade" not in connection
        ):
            return False
        ws = ServerProtocol(max_size=65_536)
        end = _head_end(self.buffer)
        head, rest = bytes(self.buffer[:end]).lstrip(b"\r\n"), bytes(self.buffer[end:])
        ws.receive_data(head)
        events = ws.events_received()
        if len(events) != 1 or not isinstance(events[0], Request):
            return False
        response = ws.accept(events[0])
        ws.send_response(response)
        self.transport.writelines(ws.data_to_send())
        self.server_state.total_requests += 1
        if response.status_code != 101:
            self.transport.close()
            self.mode = Mode.DONE
            return True
        self._stream_mode(Mode.WS_HELLO)
        self.ws = ws
        self._arm(WS_HELLO_SECONDS)
        if rest:
            self._ws_received(rest)
        return True

    def _ws_received(self, data: bytes) -> None:
        ws, transport, services = self.ws, self.transport, self.front.services
        if ws is None or transport is None or services is None:
            return
        ws.receive_data(data)
        for event in ws.events_received():
            if (
                isinstance(event, Frame)
                and event.opcode is Opcode.TEXT
                and self.mode is Mode.WS_HELLO
            ):
                self._ws_hello(ws, services, bytes(event.data))
        transport.writelines(ws.data_to_send())
        if ws.close_expected():
            transport.close()

    def _ws_hello(self, ws: ServerProtocol, services: Services, data: bytes) -> None:
        """The first message names where to resume and which regions to follow."""
        transport = self.transport
        assert transport is not None
        self._disarm()
        self.mode = Mode.WEBSOCKET
        try:
            after, flt = read_hello(services.fanout, data)
        except HelloError as e:
            transport.write(ws_text_frame(error_message(e.detail)))
            ws.send_close(1008, "bad first message")
            transport.writelines(ws.data_to_send())
            return
        if after is not None and after > services.engine.seq:
            task = self.loop.create_task(self._ws_resume_later(services, after, flt))
            task.add_done_callback(_log_failure)
            return
        self._ws_join(services, after, flt)

    async def _ws_resume_later(self, services: Services, after: Seq, flt: Filter) -> None:
        """A seq this process has not reached: wait for it briefly, or say resync."""
        resume_after, resync = await resume(services.fanout, after)
        if self.transport is None or self.transport.is_closing():
            return
        if resync is not None:
            self.transport.write(ws_text_frame(resync_message(resync)))
        self._ws_join(services, resume_after, flt)

    def _ws_join(self, services: Services, after: Seq | None, flt: Filter) -> None:
        transport = self.transport
        assert transport is not None
        transport.write(ws_text_frame(hello_message(services.fanout.feed.announced)))
        if not services.fanout.join(transport, Kind.WS, flt, after):
            task = self.loop.create_task(services.fanout.subscribe(transport, Kind.WS, flt, after))
            task.add_done_callback(_log_failure)

    # -- handing over to uvicorn ---------------------------------------------------------------

    def _handover(self) -> None:
        transport = self.transport
        assert transport is not None
        protocol = HttpToolsProtocol(self.config, self.server_state, self.app_state, self.loop)
        self.server_state.connections.discard(self)
        protocol.connection_made(transport)
        transport.set_protocol(protocol)
        data, self.buffer = bytes(self.buffer), bytearray()
        self.mode = Mode.DONE
        self.parser = None
        if data:
            protocol.data_received(data)

    # -- timers ----------------------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        """Close the connection if nothing arrives for about `seconds` (between one and two
        periods). One timer per connection, looked at when it fires: a busy keep-alive
        connection costs a counter increment per request, not a timer."""
        self.activity += 1
        self.period = seconds
        if self.timer is None:
            self.timer = self.loop.call_later(seconds, self._expire, self.activity)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expire(self, activity: int) -> None:
        self.timer = None
        if self.mode not in (Mode.READING, Mode.WS_HELLO):
            return
        if self.activity != activity:  # busy since armed: look again a period later
            self.timer = self.loop.call_later(self.period, self._expire, self.activity)
        elif self.transport is not None:
            self.transport.close()


_RESPONSES: dict[tuple[str, bytes, bool, bool], bytes] = {}


def _response(
    cached: Cached, server_state: ServerState, not_modified: bool, keep_alive: bool
) -> bytes:
    """The whole answer to a hot GET, built once per (body, second, kind) and reused: the
    Date header changes each second, everything else with the seq."""
    default_headers = server_state.default_headers
    date = next((v for n, v in default_headers if n == b"date"), b"")
    key = (cached.etag, date, not_modified, keep_alive)
    found = _RESPONSES.get(key)
    if found is not None:
        return found
    head = [b"HTTP/1.1 304 Not Modified\r\n" if not_modified else b"HTTP/1.1 200 OK\r\n"]
    head.extend(b"%s: %s\r\n" % (name, value) for name, value in default_headers)
    head.append(
        b"etag: %s\r\ncache-control: %s\r\naccess-control-allow-origin: *\r\n"
        % (cached.etag.encode(), cached.cache_control.encode())
    )
    if not keep_alive:
        head.append(b"connection: close\r\n")
    if not_modified:
        head.append(b"\r\n")
    else:
        head.append(
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(cached.body)
        )
        head.append(cached.body)
    if len(_RESPONSES) > 64:
        _RESPONSES.clear()
    found = _RESPONSES[key] = b"".join(head)
    return found


def _head_end(buffer: bytearray) -> int:
    """Where the request head that starts the buffer ends. Like the parser, skip the empty
    lines a client may send between requests (RFC 9112 2.2)."""
    start = 0
    while start < len(buffer) and buffer[start] in b"\r\n":
        start += 1
    return buffer.find(b"\r\n\r\n", start) + 4


def _etag_matches(header: bytes | None, etag: str) -> bool:
    if header is None:
        return False
    return etag.encode() in (t.strip() for t in header.split(b","))


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("subscribing failed", exc_info=task.exception())
