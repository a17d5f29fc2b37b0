"""One connection of the HTTP front, sans I/O: bytes in, decisions out.

Built the way h11 and websockets' protocol are built (it uses both): it never touches a
socket, a loop or a clock. The adapter (`front/protocol.py`) feeds it the bytes that
arrived and the time, asks for the next decision, and carries it out. Every request is
read whole — its head and its body each under a size limit and an absolute deadline that
activity does not extend — before anything is decided about it; then it is answered from
the table of hot routes, attached to the fan-out as a subscriber, carried out as a write,
or handed to the app. One request at a time: the next one (pipelined) is not even read
until the adapter says the answer to this one is out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

import h11
import orjson
from websockets.datastructures import Headers
from websockets.exceptions import InvalidState
from websockets.frames import Frame, Opcode
from websockets.http11 import Request as WsRequest
from websockets.protocol import Protocol, Side, State
from websockets.server import ServerProtocol

from tryvoha.domain.regions import RegionTree
from tryvoha.server.fanout import Kind
from tryvoha.server.problems import Problem
from tryvoha.server.routes import (
    EventStream,
    Poll,
    Router,
    StreamAsk,
    WebSocketStream,
    Write,
    events_query,
    query_pairs,
    read_hello,
)


@dataclass(frozen=True, slots=True)
class Limits:
    """What one connection may take (settings: docs/self-host.md, "Limits")."""

    head_seconds: float = 10.0  # from a request's first byte to the end of its head
    body_seconds: float = 30.0  # from the end of the head to the end of the body
    keep_alive_seconds: float = 5.0  # idle between requests
    ws_hello_seconds: float = 10.0  # from the handshake to a WebSocket's first message
    max_head_bytes: int = 16_384
    max_body_bytes: int = 65_536
    max_ws_message_bytes: int = 65_536
    max_stream_regions: int = 500


@dataclass(frozen=True, slots=True)
class Request:
    """A request read whole."""

    method: str
    target: bytes  # as sent
    path: str  # undecoded, without the query
    query: bytes
    headers: tuple[tuple[bytes, bytes], ...]  # names in lower case
    http_version: str  # "1.0" or "1.1"
    body: bytes
    keep_alive: bool

    def header(self, name: bytes) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None


# -- decisions ----------------------------------------------------------------------


class NeedData:
    """Nothing to do until more bytes arrive (or the answer in progress is out)."""


NEED_DATA = NeedData()


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes
    close: bool = False  # close once it is written


@dataclass(frozen=True, slots=True)
class AnswerPoll:
    """Answer a polled route from its view (the same request bytes always decide this)."""

    entry: Poll
    params: tuple[tuple[str, str], ...]
    if_none_match: str | None
    if_modified_since: str | None
    head: bool  # HEAD: the headers without the body
    keep_alive: bool
    request_line: str  # for the access log
    path: str  # for the instance of a problem
    authorization: str | None  # for a route that takes an API key
    query: bytes
    forwarded_for: str | None  # a trusted proxy's word on who the client is


@dataclass(frozen=True, slots=True)
class Attach:
    """Make this connection a subscriber: SSE (the adapter writes the response head) or a
    WebSocket that has said what it wants."""

    kind: Kind
    ask: StreamAsk
    request_line: str
    forwarded_for: str | None


@dataclass(frozen=True, slots=True)
class Carry:
    """Carry out a write; the adapter says `answered` when its answer is out."""

    entry: Write
    params: dict[str, str]
    request: Request


@dataclass(frozen=True, slots=True)
class ToApp:
    """Hand the request to the app; it answers through `respond`, then `answered`."""

    request: Request


@dataclass(frozen=True, slots=True)
class Refuse:
    """Answer with this problem (and close, when the connection cannot go on)."""

    problem: Problem
    close: bool
    reason: str  # counted and logged by reason


@dataclass(frozen=True, slots=True)
class Close:
    reason: str


Decision = NeedData | Send | AnswerPoll | Attach | Carry | ToApp | Refuse | Close


class Mode(Enum):
    IDLE = 1  # between requests
    HEAD = 2  # reading a request's head
    BODY = 3  # reading its body
    BUSY = 4  # the adapter is answering it
    STREAM = 5  # an SSE subscriber: nothing more is read
    WS_HELLO = 6  # a WebSocket waiting for its first message
    WEBSOCKET = 7  # a WebSocket subscriber
    CLOSED = 8


Memo = dict[bytes, AnswerPoll]  # exact bytes of a polled request -> what they decide
MEMO_SIZE = 1024
MEMO_REQUEST_BYTES = 2048  # a poller's request is short: at most 2 MiB remembered in all
VERSIONS = {b"1.1": "1.1", b"1.0": "1.0"}


class Connection:
    __slots__ = (
        "body",
        "forwarded",
        "fresh",
        "head",
        "http",
        "limits",
        "memo",
        "mode",
        "pending",
        "router",
        "since",
        "tree",
        "ws",
    )

    def __init__(
        self, router: Router, tree: RegionTree, limits: Limits, now: float, memo: Memo
    ) -> None:
        self.router = router
        self.tree = tree
        self.limits = limits
        self.memo = memo
        self.mode = Mode.IDLE
        self.since = now  # when the period of the current deadline began
        self.http: h11.Connection | None = None
        self.head: h11.Request | None = None
        self.body: bytes | bytearray = b""  # a bytearray while a body is read
        self.fresh: bytes | None = None  # the one chunk a request came in, for the memo
        self.pending: list[Decision] = []  # a few at most (a list: 56 bytes, a deque 600)
        self.ws: Protocol | None = None
        self.forwarded: str | None = None  # X-Forwarded-For of a WebSocket's handshake

    # -- input ----------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        mode = self.mode
        if mode is Mode.IDLE and self.http is None:
            known = self.memo.get(data)
            if known is not None:  # parsed before, byte for byte: the same request
                self.pending.append(known)
                if not known.keep_alive:
                    self.mode = Mode.CLOSED
                    self.pending.append(Close("answered"))
                self.since = now
                return
        if mode in (Mode.WS_HELLO, Mode.WEBSOCKET):
            self._ws_receive(data)
        elif mode in (Mode.IDLE, Mode.HEAD, Mode.BODY, Mode.BUSY):
            self._http_receive(data, now)
        # STREAM, CLOSED: an SSE subscriber has nothing more to say

    def receive_eof(self) -> None:
        """The client will send nothing more. A request in progress is still answered
        (a client may half-close after sending it); then the connection closes."""
        mode = self.mode
        if self.http is not None:
            self.http.receive_data(b"")
        if self.ws is not None:
            self.ws.receive_eof()
            self._ws_flush(self.ws)
        if mode in (Mode.IDLE, Mode.STREAM, Mode.WS_HELLO, Mode.WEBSOCKET) and self.http is None:
            self.mode = Mode.CLOSED
            self.pending.append(Close("eof"))

    def _http_receive(self, data: bytes, now: float) -> None:
        if self.http is None:
            if self.mode is Mode.IDLE:
                data = data.lstrip(b"\r\n")  # empty lines before a request (RFC 9112 2.2)
                if not data:
                    return
                self.fresh = data
            self.http = h11.Connection(
                h11.SERVER, max_incomplete_event_size=self.limits.max_head_bytes
            )
        else:
            self.fresh = None
        if self.mode is Mode.IDLE:
            self.mode = Mode.HEAD
            self.since = now
        self.http.receive_data(data)

    # -- decisions --------------------------------------------------------------------

    def next_decision(self, now: float) -> Decision:
        if self.pending:
            return self.pending.pop(0)
        if self.mode in (Mode.HEAD, Mode.BODY):
            return self._read(now)
        return NEED_DATA

    def _read(self, now: float) -> Decision:
        http = self.http
        assert http is not None
        while True:
            try:
                event = http.next_event()
            except h11.RemoteProtocolError as e:
                return self._refuse(e.error_status_hint, "bad_request", str(e), "malformed")
            if event is h11.NEED_DATA:
                return NEED_DATA
            if isinstance(event, h11.Request):
                refused = self._check_head(event)
                if refused is not None:
                    return refused
                self.head, self.body = event, bytearray()
                self.mode, self.since = Mode.BODY, now
                if http.they_are_waiting_for_100_continue:
                    return Send(
                        http.send(h11.InformationalResponse(status_code=100, headers=[])) or b""
                    )
            elif isinstance(event, h11.Data):
                self.body += event.data
                if len(self.body) > self.limits.max_body_bytes:
                    return self._too_large()
            elif isinstance(event, h11.EndOfMessage):
                return self._decide(now)
            elif isinstance(event, h11.ConnectionClosed):
                self.mode = Mode.CLOSED
                return Close("eof")
            else:  # PAUSED cannot come before EndOfMessage
                return self._refuse(400, "bad_request", "unexpected request framing", "malformed")

    def _check_head(self, head: h11.Request) -> Refuse | None:
        if head.http_version not in VERSIONS:
            return self._refuse(
                505,
                "http_version_not_supported",
                "this server speaks HTTP/1.1 and 1.0",
                "malformed",
            )
        size = len(head.target) + sum(len(k) + len(v) + 4 for k, v in head.headers)
        if size > self.limits.max_head_bytes:
            return self._refuse(
                431,
                "head_too_large",
                f"request heads are limited to {self.limits.max_head_bytes} bytes",
                "too_large",
            )
        names = [k for k, _ in head.headers]
        if b"transfer-encoding" in names and b"content-length" in names:
            return self._refuse(
                400, "bad_request", "Content-Length and Transfer-Encoding together", "malformed"
            )
        if head.method == b"CONNECT":
            return self._refuse(
                405, "method_not_allowed", "this server is not a proxy", "malformed"
            )
        for key, value in head.headers:
            if key == b"content-length" and int(value) > self.limits.max_body_bytes:
                return self._too_large()
        return None

    def _too_large(self) -> Refuse:
        detail = f"request bodies are limited to {self.limits.max_body_bytes} bytes"
        return self._refuse(413, "body_too_large", detail, "too_large")

    def _refuse(self, status: int, code: str, detail: str, reason: str) -> Refuse:
        """A request that cannot be read on: answered, and the connection closed (what
        follows on it cannot be trusted to start where we think)."""
        self.mode = Mode.CLOSED
        self.http = None
        return Refuse(Problem(code, detail, status), True, reason)

    def _decide(self, now: float) -> Decision:
        head, http = self.head, self.http
        assert head is not None and http is not None
        request = self._request(head, http)
        line = f"{request.method} {head.target.decode('latin-1')} HTTP/{request.http_version}"
        found = self.router.match(request.method, request.path)
        if found is None:
            self.mode = Mode.BUSY
            return ToApp(request)
        entry, params = found
        if isinstance(entry, Poll):
            decision = AnswerPoll(
                entry,
                tuple(params.items()),
                request.header(b"if-none-match"),
                request.header(b"if-modified-since"),
                request.method == "HEAD",
                request.keep_alive,
                line,
                request.path,
                request.header(b"authorization"),
                request.query,
                request.header(b"x-forwarded-for"),
            )
            fresh, trailing = self.fresh, http.trailing_data[0]
            self._next_cycle(now, request.keep_alive)
            if (
                fresh is not None
                and not trailing
                and request.method == "GET"
                and len(fresh) <= MEMO_REQUEST_BYTES
            ):
                if len(self.memo) >= MEMO_SIZE:
                    self.memo.clear()
                self.memo[fresh] = decision
            return decision
        if isinstance(entry, EventStream):
            try:
                ask = events_query(
                    self.tree,
                    query_pairs(request.query),
                    request.header(b"last-event-id"),
                    self.limits.max_stream_regions,
                )
            except Problem as problem:
                self._next_cycle(now, request.keep_alive)
                return Refuse(problem, not request.keep_alive, "invalid")
            self.mode = Mode.STREAM
            self._forget_request()  # a subscriber holds nothing of how it asked
            kind = Kind.SSE_CHUNKED if request.http_version == "1.1" else Kind.SSE
            return Attach(kind, ask, line, request.header(b"x-forwarded-for"))
        if isinstance(entry, WebSocketStream):
            return self._handshake(request, http, now, line)
        self.mode = Mode.BUSY
        return Carry(entry, params, request)

    def _request(self, head: h11.Request, http: h11.Connection) -> Request:
        target = head.target
        path, _, query = target.partition(b"?")
        if not path.startswith(b"/"):  # absolute-form (RFC 9112 3.2.2): its path
            split = urlsplit(target.decode("latin-1"))
            path, query = (split.path or "/").encode("latin-1"), split.query.encode("latin-1")
        return Request(
            head.method.decode("ascii"),
            target,
            path.decode("latin-1"),
            query,
            tuple((bytes(k), bytes(v)) for k, v in head.headers),
            VERSIONS[head.http_version],
            bytes(self.body),
            http.their_state is h11.DONE,  # h11's rule: HTTP/1.1 without Connection: close
        )

    def _forget_request(self) -> None:
        self.http, self.head, self.body, self.fresh = None, None, b"", None

    # -- answers the adapter writes --------------------------------------------------

    def respond(self, event: h11.Response | h11.Data | h11.EndOfMessage) -> bytes:
        """The bytes of the app's answer (h11 frames it: length, chunks, HEAD, close)."""
        assert self.http is not None
        return self.http.send(event) or b""

    @property
    def app_may_continue(self) -> bool:
        """After the app's answer: whether the connection can take another request."""
        http = self.http
        return http is not None and http.our_state is h11.DONE and http.their_state is h11.DONE

    def answered(self, now: float, keep_alive: bool) -> None:
        """The answer to the request in progress is out: read the next one, if any."""
        if self.mode is not Mode.BUSY:
            return
        self._next_cycle(now, keep_alive)

    def _next_cycle(self, now: float, keep_alive: bool) -> None:
        trailing, ended = self.http.trailing_data if self.http is not None else (b"", False)
        self.http, self.head, self.body, self.fresh = None, None, b"", None
        if not keep_alive or (ended and not trailing.strip(b"\r\n")):
            self.mode = Mode.CLOSED
            self.pending.append(Close("answered"))
            return
        self.mode, self.since = Mode.IDLE, now
        if trailing:  # a pipelined request is next
            self._http_receive(bytes(trailing), now)
            if ended and self.http is not None:
                self.http.receive_data(b"")

    # -- WebSocket -------------------------------------------------------------------

    def _handshake(self, request: Request, http: h11.Connection, now: float, line: str) -> Decision:
        handshake = ServerProtocol(max_size=self.limits.max_ws_message_bytes)
        headers = Headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers)
        response = handshake.accept(WsRequest(request.target.decode("latin-1"), headers))
        if response.status_code != 101:
            reason = response.body.decode("utf-8", "replace").strip() or response.reason_phrase
            problem = Problem("bad_websocket_handshake", reason, response.status_code)
            self._next_cycle(now, False)
            self.pending.clear()
            return Refuse(problem, True, "invalid")
        handshake.send_response(response)
        self.forwarded = request.header(b"x-forwarded-for")
        trailing = http.trailing_data[0]
        self._forget_request()
        self.mode, self.since = Mode.WS_HELLO, now
        # From here on frames only: websockets' protocol in the OPEN state (the handshake's
        # keeps the request it parsed, 2.5 KiB a socket).
        self.ws = Protocol(Side.SERVER, state=State.OPEN, max_size=self.limits.max_ws_message_bytes)
        self.pending.append(Send(b"".join(handshake.data_to_send())))
        if trailing:
            self._ws_receive(bytes(trailing))
        return self.pending.pop(0)

    def _ws_receive(self, data: bytes) -> None:
        ws = self.ws
        assert ws is not None
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                if self.mode is Mode.WS_HELLO:
                    self._ws_hello(ws, bytes(event.data))
        self._ws_flush(ws)

    def _ws_hello(self, ws: Protocol, data: bytes) -> None:
        try:
            ask = read_hello(self.tree, data, self.limits.max_stream_regions)
        except Problem as problem:
            self._ws_error(ws, problem.detail)
            return
        self.mode = Mode.WEBSOCKET
        self.pending.append(Attach(Kind.WS, ask, "WEBSOCKET /api/v1/ws", self.forwarded))

    def _ws_error(self, ws: Protocol, detail: str) -> None:
        message = orjson.dumps({"type": "error", "detail": detail})
        try:
            ws.send_text(message)
            ws.send_close(1008, "bad first message")
        except InvalidState:
            pass
        self.mode = Mode.CLOSED

    def _ws_flush(self, ws: Protocol) -> None:
        out = ws.data_to_send()
        data = b"".join(out)
        if data:
            self.pending.append(Send(data))
        if ws.close_expected() or (out and out[-1] == b""):
            self.mode = Mode.CLOSED
            self.pending.append(Close("websocket closed"))

    # -- deadlines -------------------------------------------------------------------

    @property
    def deadline(self) -> float | None:
        limits, mode = self.limits, self.mode
        if mode is Mode.IDLE:
            return self.since + limits.keep_alive_seconds
        if mode is Mode.HEAD:
            return self.since + limits.head_seconds
        if mode is Mode.BODY:
            return self.since + limits.body_seconds
        if mode is Mode.WS_HELLO:
            return self.since + limits.ws_hello_seconds
        return None

    def expire(self, now: float) -> Decision | None:
        """What to do when the deadline may have passed (None: not yet, or none)."""
        deadline = self.deadline
        if deadline is None or now < deadline:
            return None
        mode = self.mode
        if mode is Mode.IDLE:
            self.mode = Mode.CLOSED
            return Close("idle")
        if mode is Mode.WS_HELLO:
            assert self.ws is not None
            self._ws_error(self.ws, 'send {"after": seq, "regions": [ids]} first')
            self._ws_flush(self.ws)
            self.pending.append(Close("timeout"))
            return self.pending.pop(0)
        what = "head" if mode is Mode.HEAD else "body"
        seconds = self.limits.head_seconds if mode is Mode.HEAD else self.limits.body_seconds
        return self._refuse(
            408,
            "request_timeout",
            f"the request's {what} took longer than {seconds:g} s",
            "timeout",
        )

    def shutdown(self) -> Decision | None:
        """The server is stopping: what to tell this connection (None: wait for the answer
        in progress, then close)."""
        mode = self.mode
        if mode is Mode.BUSY:
            return None
        self.mode = Mode.CLOSED
        if mode is Mode.WEBSOCKET or mode is Mode.WS_HELLO:
            assert self.ws is not None
            try:
                self.ws.send_close(1001, "server going away")
            except InvalidState:
                pass
            return Send(b"".join(self.ws.data_to_send()), close=True)
        return Close("shutdown")
