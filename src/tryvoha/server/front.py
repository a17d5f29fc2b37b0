"""The HTTP front: the first code to see each connection.

It parses requests itself (httptools) and answers the hot paths without the ASGI stack:
`GET /api/v1/events` (SSE) and `GET /api/v1/ws` (WebSocket) become sockets in the fan-out,
written to directly with frames encoded once per event; `GET /api/v1/alerts/active` and
`GET /api/v1/state` are answered from pre-encoded bodies; the writes (declare, update,
clear) are carried out by `server.writes`, as the API's routes do, so that an issuer's
answer waits for its commit and little else. Anything else, and anything unusual about a
hot request (including a body that does not validate), is handed to uvicorn's own
protocol with every byte read so far, before anything was done, and from then on that
connection is uvicorn's: one set of routes, one set of errors.
"""

from __future__ import annotations

import asyncio
import logging
from enum import Enum
from http import HTTPStatus
from typing import Any, ClassVar, cast
from urllib.parse import parse_qsl

import httptools
import orjson
from pydantic import ValidationError
from starlette.responses import Response
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import Protocol, Side, State
from websockets.server import ServerProtocol

from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.commands import Command
from tryvoha.domain.events import Seq
from tryvoha.domain.regions import RegionId
from tryvoha.protocol.sse import LAST_CHUNK, RETRY, WS_GOING_AWAY, chunk, ws_text_frame
from tryvoha.server.fanout import Filter, Kind
from tryvoha.server.models import DeclareIn, UpdateIn
from tryvoha.server.problems import ANSWERED, Problem, as_problem, crash_problem, problem_response
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
from tryvoha.server.writes import (
    WriteRequest,
    answer_headers,
    clear_alert_command,
    clear_region_command,
    declare_command,
    perform,
    update_command,
)

log = logging.getLogger(__name__)
ACCESS = logging.getLogger("uvicorn.access")

HEAD_SECONDS = 10.0  # to send a request's head
KEEP_ALIVE_SECONDS = 5.0  # idle between requests
WS_HELLO_SECONDS = 10.0
WS_MAX_BYTES = 65_536  # a subscriber's message: its hello, nothing larger
MAX_HEAD_BYTES = 16_384

JSON_TYPE = "application/json"
ACTIVE = b"/api/v1/alerts/active"
HOT_VIEWS = (ACTIVE, b"/api/v1/state")
MAX_HOT_REQUESTS = 1024
# The exact bytes of hot GETs parsed before -> (path, If-None-Match, keep-alive).
_HOT_REQUESTS: dict[bytes, tuple[bytes, bytes | None, bool]] = {}
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
    BODY = 7  # reading a write's body
    WRITING = 8  # a write is being carried out; reading paused until it is answered


def make_front(front: Front) -> type[FrontProtocol]:
    """The protocol class uvicorn instantiates per connection (`Config(http=...)`)."""
    return type("BoundFrontProtocol", (FrontProtocol,), {"front": front, "__slots__": ()})


class FrontProtocol(asyncio.Protocol):
    front: ClassVar[Front]

    __slots__ = (
        "activity",
        "app_state",
        "buffer",
        "closing",
        "config",
        "headers",
        "length",
        "loop",
        "mode",
        "parser",
        "period",
        "repeated",
        "server_state",
        "timer",
        "transport",
        "url",
        "write_route",
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
        self.ws: Protocol | None = None
        self.repeated = False  # a header came twice: not the common case
        self.write_route: tuple[str, str] | None = None
        self.length = 0  # of the write request being read, head and body
        self.closing = False

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
        if self.mode is Mode.WRITING:
            self.buffer += data  # the next request, read once this one is answered
            return
        if self.mode not in (Mode.READING, Mode.BODY) or self.parser is None:
            return
        if not self.buffer and self.mode is Mode.READING:
            known = _HOT_REQUESTS.get(data)
            if known is not None:  # parsed before, byte for byte: the same request
                self._answer(*known)
                if self.mode is Mode.READING:
                    self._arm(KEEP_ALIVE_SECONDS)
                return
        self.buffer += data
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # a WebSocket handshake: handled (or handed over) in on_headers_complete
        except httptools.HttpParserError:
            if self.mode in (Mode.READING, Mode.BODY):  # never once a write has started
                self.mode = Mode.HANDOVER  # uvicorn answers 400
        limit = MAX_HEAD_BYTES + (self.length if self.mode is Mode.BODY else 0)
        if self.mode in (Mode.READING, Mode.BODY) and len(self.buffer) > limit:
            self.mode = Mode.HANDOVER
        if self.mode is Mode.HANDOVER:
            self._handover()
        elif self.mode in (Mode.READING, Mode.BODY):
            self._arm(HEAD_SECONDS if self.buffer else KEEP_ALIVE_SECONDS)

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: streams end properly, idle connections close."""
        if self.transport is not None and not self.transport.is_closing():
            if self.mode is Mode.WRITING:
                self.closing = True  # closed once the write is answered
                return
            if self.mode is Mode.STREAM:
                self.transport.write(LAST_CHUNK)
            elif self.mode in (Mode.WS_HELLO, Mode.WEBSOCKET):
                self.transport.write(WS_GOING_AWAY)
            self.transport.close()

    # -- httptools callbacks --------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = {}
        self.repeated = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in self.headers:
            self.repeated = True
        self.headers[name] = value

    def on_message_complete(self) -> None:
        if self.mode is Mode.BODY:
            self._write_read()

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
        if hot and path in HOT_VIEWS:
            self._answer_parsed(path)
        elif hot and path == b"/api/v1/events" and self._open_stream(services, query):
            return
        elif hot and path == b"/api/v1/ws" and self._open_websocket():
            return
        elif self._write_begins(services, path):
            return
        else:
            self.mode = Mode.HANDOVER

    # -- hot GETs -----------------------------------------------------------------------

    def _answer_parsed(self, path: bytes) -> None:
        """A hot GET the parser read; remembered by its bytes when it came alone, so that
        the same bytes again (a poller on this or any connection) skip the parser: from
        the same state, the same bytes parse the same."""
        assert self.parser is not None
        end = _head_end(self.buffer)
        request = bytes(self.buffer[:end])
        del self.buffer[:end]  # this request's bytes; a pipelined next one stays
        known = (path, self.headers.get(b"if-none-match"), self.parser.should_keep_alive())
        if not self.buffer and not request.startswith(b"\r\n"):
            if len(_HOT_REQUESTS) >= MAX_HOT_REQUESTS:
                _HOT_REQUESTS.clear()
            _HOT_REQUESTS[request] = known
        self._answer(*known)

    def _answer(self, path: bytes, if_none_match: bytes | None, keep_alive: bool) -> None:
        services, transport = self.front.services, self.transport
        assert services is not None and transport is not None
        cached = services.views.active() if path == ACTIVE else services.views.state()
        not_modified = _etag_matches(if_none_match, cached.etag)
        transport.write(_response(cached, self.server_state, not_modified, keep_alive))
        self.server_state.total_requests += 1
        if not keep_alive:
            transport.close()
            self.mode = Mode.DONE

    # -- writes -------------------------------------------------------------------------

    def _write_begins(self, services: Services, path: bytes) -> bool:
        """A write in the common form: read its body (False: hand the request over)."""
        assert self.parser is not None
        headers = self.headers
        length = headers.get(b"content-length", b"")
        route = write_route(self.parser.get_method(), path)
        if (
            route is None
            or self.repeated
            or b"#" in self.url  # a fragment: the app drops it, and so the key's fingerprint
            or self.parser.get_http_version() != "1.1"
            or not length.isdigit()
            or int(length) > services.settings.max_body_bytes
            or b"transfer-encoding" in headers
            or b"expect" in headers
            or b"upgrade" in headers
        ):
            return False
        self.mode = Mode.BODY
        self.write_route = route
        self.length = _head_end(self.buffer) + int(length)
        return True

    def _write_read(self) -> None:
        """The whole request is here: validate it, then carry it out; anything the common
        case does not cover goes, untouched, to the app."""
        services, parser, route = self.front.services, self.parser, self.write_route
        assert services is not None and parser is not None and route is not None
        path, _, query = self.url.partition(b"?")
        command = None
        body = b""
        if len(self.buffer) == self.length:  # nothing pipelined behind it
            body = bytes(self.buffer[_head_end(self.buffer) :])  # its Content-Length bytes
            command = self._write_command(services, route, query, body)
        if command is None:
            self.mode = Mode.HANDOVER
            return
        header = self.headers.get
        request = WriteRequest(
            parser.get_method().decode(),
            path.decode("ascii"),
            query.decode("latin-1"),
            body,
            None if (a := header(b"authorization")) is None else a.decode("latin-1"),
            None if (k := header(b"idempotency-key")) is None else k.decode("latin-1"),
        )
        keep_alive = parser.should_keep_alive()
        self.mode = Mode.WRITING  # from here on the request is the task's, whatever happens
        task = self.loop.create_task(self._write(services, command, request, keep_alive))
        task.add_done_callback(_log_failure)
        # uvicorn's shutdown waits for these, even when the client has gone meanwhile
        self.server_state.tasks.add(task)
        task.add_done_callback(self.server_state.tasks.discard)
        assert self.transport is not None
        self.transport.pause_reading()

    def _write_command(
        self, services: Services, route: tuple[str, str], query: bytes, body: bytes
    ) -> Command | None:
        name, param = route
        try:
            if name == "clear":
                return clear_alert_command(param)
            if name == "clear_region":
                ok, threat = _only_threat(query)
                return clear_region_command(services, param, threat) if ok else None
            if not _is_json(self.headers.get(b"content-type", b"")):
                return None
            data = orjson.loads(body)
            if name == "declare":
                return declare_command(DeclareIn.model_validate(data))
            return update_command(param, UpdateIn.model_validate(data))
        except (orjson.JSONDecodeError, ValidationError, Problem):
            return None  # the app answers with the problem

    async def _write(
        self, services: Services, command: Command, request: WriteRequest, keep_alive: bool
    ) -> None:
        try:
            result = await perform(services, command, request)
            answer = Response(result.body, result.status, answer_headers(result), JSON_TYPE)
        except ANSWERED as e:
            answer = problem_response(as_problem(e), request.path)
        except Exception:
            answer = problem_response(crash_problem(request.path), request.path)
        transport = self.transport
        if self.mode is not Mode.WRITING or transport is None or transport.is_closing():
            return  # the client left; the write stands, as it would have anyway
        self.server_state.total_requests += 1
        keep_alive = keep_alive and not self.closing
        transport.write(_raw_response(answer, self.server_state, keep_alive))
        if self.config.access_log and ACCESS.hasHandlers():  # as uvicorn logs the app's
            peer = transport.get_extra_info("peername") or ("", 0)
            target = request.path + (f"?{request.query}" if request.query else "")
            ACCESS.info(
                '%s:%d - "%s %s HTTP/1.1" %d', *peer[:2], request.method, target, answer.status_code
            )
        if not keep_alive:
            transport.close()
            self.mode = Mode.DONE
            return
        rest = bytes(self.buffer[self.length :])
        self.buffer = bytearray()
        self.mode = Mode.READING
        self._arm(KEEP_ALIVE_SECONDS)
        transport.resume_reading()
        if rest:
            self.data_received(rest)

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
        handshake = ServerProtocol(max_size=WS_MAX_BYTES)
        end = _head_end(self.buffer)
        head, rest = bytes(self.buffer[:end]).lstrip(b"\r\n"), bytes(self.buffer[end:])
        handshake.receive_data(head)
        events = handshake.events_received()
        if len(events) != 1 or not isinstance(events[0], Request):
            return False
        response = handshake.accept(events[0])
        handshake.send_response(response)
        self.transport.writelines(handshake.data_to_send())
        self.server_state.total_requests += 1
        if response.status_code != 101:
            self.transport.close()
            self.mode = Mode.DONE
            return True
        self._stream_mode(Mode.WS_HELLO)
        # From here on frames only: websockets' protocol in the OPEN state. The handshake's
        # protocol keeps the request it parsed for as long as it lives (2.5 KiB a socket).
        self.ws = Protocol(Side.SERVER, state=State.OPEN, max_size=WS_MAX_BYTES)
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

    def _ws_hello(self, ws: Protocol, services: Services, data: bytes) -> None:
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
        if self.mode not in (Mode.READING, Mode.BODY, Mode.WS_HELLO):
            return
        if self.activity != activity:  # busy since armed: look again a period later
            self.timer = self.loop.call_later(self.period, self._expire, self.activity)
        elif self.transport is not None:
            self.transport.close()


# (etag, id of the default headers, 304, keep-alive) -> (those headers, the answer)
_RESPONSES: dict[tuple[str, int, bool, bool], tuple[list[tuple[bytes, bytes]], bytes]] = {}


def _response(
    cached: Cached, server_state: ServerState, not_modified: bool, keep_alive: bool
) -> bytes:
    """The whole answer to a hot GET, built once per (body, second, kind) and reused: the
    Date header changes each second (uvicorn makes a new list of default headers; the
    entry holds the list, so its id cannot be reused while the entry lives), everything
    else with the seq."""
    default_headers = server_state.default_headers
    key = (cached.etag, id(default_headers), not_modified, keep_alive)
    found = _RESPONSES.get(key)
    if found is not None and found[0] is default_headers:
        return found[1]
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
    answer = b"".join(head)
    _RESPONSES[key] = (default_headers, answer)
    return answer


def _raw_response(answer: Response, server_state: ServerState, keep_alive: bool) -> bytes:
    """A Starlette response as bytes on the wire, with the server's own headers."""
    status = answer.status_code
    head = [b"HTTP/1.1 %d %s\r\n" % (status, HTTPStatus(status).phrase.encode())]
    head.extend(b"%s: %s\r\n" % (n, v) for n, v in server_state.default_headers)
    head.extend(b"%s: %s\r\n" % (n, v) for n, v in answer.raw_headers)
    if not keep_alive:
        head.append(b"connection: close\r\n")
    head.append(b"\r\n")
    head.append(bytes(answer.body))
    return b"".join(head)


def write_route(method: bytes, path: bytes) -> tuple[str, str] | None:
    """Which write a request is, and the id in its path; None: not a write (or an
    encoded path, which the app decodes)."""
    parts = path.split(b"/")
    if parts[:3] != [b"", b"api", b"v1"] or b"%" in path:
        return None
    rest = parts[3:]
    if method == b"POST" and rest == [b"alerts"]:
        return ("declare", "")
    if len(rest) < 2 or not rest[1] or not rest[1].isascii():
        return None
    param = rest[1].decode("ascii")
    if method == b"PATCH" and len(rest) == 2 and rest[0] == b"alerts":
        return ("update", param)
    if method == b"POST" and len(rest) == 3 and rest[2] == b"clear":
        if rest[0] == b"alerts":
            return ("clear", param)
        if rest[0] == b"regions":
            return ("clear_region", param)
    return None


def _only_threat(query: bytes) -> tuple[bool, ThreatType | None]:
    """A region clear's query: nothing, or one valid threat (else not the common case)."""
    if not query:
        return True, None
    try:
        pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True)
        if len(pairs) == 1 and pairs[0][0] == "threat":
            return True, ThreatType(pairs[0][1])
    except (UnicodeDecodeError, ValueError):
        pass
    return False, None


def _is_json(content_type: bytes) -> bool:
    return content_type.partition(b";")[0].strip().lower() == b"application/json"


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
    tag = etag.encode()
    return header == tag or tag in (t.strip() for t in header.split(b","))


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("subscribing failed", exc_info=task.exception())
