"""The asyncio side of the front: a thin adapter that feeds each connection's core
(`front/connection.py`) and carries out what it decides.

It is also the fan-out's sink for the subscribers among its connections. It holds the one
timer of a connection (the core says when), stops reading while its socket's write
buffer is above the high-water mark (so a client that sends without reading is not
answered without end), never lets more than `max_queued_bytes` wait unsent, and drops a
connection with a reset, so its memory and its socket are freed at once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import orjson

from tryvoha.protocol.sse import LAST_CHUNK, RETRY, WS_GOING_AWAY, chunk, ws_text_frame
from tryvoha.server import polls
from tryvoha.server.clients import Limited
from tryvoha.server.compat_gate import Refusal
from tryvoha.server.fanout import Kind, Subscriber
from tryvoha.server.front.connection import (
    NEED_DATA,
    AnswerPoll,
    Attach,
    Carry,
    Close,
    Connection,
    Decision,
    Limits,
    Memo,
    Refuse,
    Send,
    ToApp,
)
from tryvoha.server.front.wire import Wire
from tryvoha.server.problems import ANSWERED, Problem, as_problem, crash_problem
from tryvoha.server.routes import Router, query_pairs
from tryvoha.server.writes import WriteRequest, carry_out

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from tryvoha.server.services import Services

log = logging.getLogger("tryvoha.front")
access = logging.getLogger("tryvoha.access")

SECRET_IN_QUERY = re.compile(r"(?i)([?&](?:token|key|api_key)=)[^&\s]*")
LINGER_NOW = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close sends a reset, frees at once


@dataclass
class Front:
    """What every connection of one serving process shares."""

    app: ASGIApp
    limits: Limits
    high_water: int = 65_536
    low_water: int = 16_384
    max_queued: int = 1 << 20
    access_log: bool = False
    services: Services | None = None
    router: Router = field(default_factory=Router)
    memo: Memo = field(default_factory=dict)
    wire: Wire = field(default_factory=Wire)
    connections: set[FrontProtocol] = field(default_factory=set)

    def shutdown(self) -> None:
        for connection in list(self.connections):
            connection.shutdown()


class FrontProtocol(asyncio.Protocol):
    __slots__ = (
        "busy",
        "client",
        "closing_after",
        "congested",
        "core",
        "front",
        "gone",
        "kind",
        "loop",
        "lost",
        "paused",
        "proxied",
        "streaming_as",
        "sub",
        "timer",
        "timer_at",
        "transport",
        "waiter",
        "write",
    )

    def __init__(self, front: Front) -> None:
        self.front = front
        self.loop = asyncio.get_running_loop()
        self.congested = False  # write buffer above the high-water mark
        self.paused = False  # reading paused
        self.gone = False
        self.busy: asyncio.Task[None] | None = None  # a write or the app answering
        self.closing_after = False  # close once the answer in progress is out
        self.sub: Subscriber | None = None
        self.kind: Kind | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.waiter: asyncio.Future[None] | None = None  # the app waiting for room to write
        self.lost: asyncio.Future[None] | None = None  # the app waiting for the client to leave
        self.client: str | None = None  # the peer's key (its limits), once needed
        self.proxied = False  # the peer is a trusted proxy: the client is in X-Forwarded-For
        self.streaming_as: str | None = None  # the client a stream is counted against

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        front = self.front
        assert front.services is not None
        self.transport = t = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.write = t.write
        t.set_write_buffer_limits(high=front.high_water, low=front.low_water)
        now = self.loop.time()
        self.core = Connection(front.router, front.services.tree, front.limits, now, front.memo)
        front.connections.add(self)
        self._arm()

    def data_received(self, data: bytes) -> None:
        self.core.receive_data(data, self.loop.time())
        self._run()

    def eof_received(self) -> bool:
        self.core.receive_eof()
        self._run()
        return True  # the transport stays open until the core says close

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        self.front.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.sub is not None:
            self.sub.close()
            self.sub = None
        if self.streaming_as is not None and self.front.services is not None:
            self.front.services.clients.close_stream(self.streaming_as)
            self.streaming_as = None
        self._wake()
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self) -> None:
        self.congested = True
        if self.sub is not None:
            self.sub.congested()
        self._reading()

    def resume_writing(self) -> None:
        self.congested = False
        if self.sub is not None:
            self.sub.drained()
        self._wake()
        self._run()

    # -- the fan-out's sink -----------------------------------------------------------------

    def abort(self, reason: str | None = None) -> None:
        """Drop the connection now: a reset, whatever is unsent; everything freed."""
        if reason is not None and self.front.services is not None:
            self.front.services.refusals.note(reason)
        if self.gone:
            return
        raw = self.transport.get_extra_info("socket")
        if raw is not None:
            try:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_NOW)
            except OSError:
                pass
        self.transport.abort()

    def is_closing(self) -> bool:
        return self.gone or self.transport.is_closing()

    # -- carrying out decisions --------------------------------------------------------------

    def _run(self) -> None:
        core = self.core
        now = self.loop.time()
        while self.busy is None and not self.congested and not self.gone:
            decision = core.next_decision(now)
            if decision is NEED_DATA:
                break
            self._do(decision)
        self._reading()
        self._arm()

    def _client_of(self, forwarded_for: str | None) -> str:
        """The client a request counts against: the peer, or who a trusted proxy names."""
        clients = self.services.clients
        if self.client is None:
            peer = self.transport.get_extra_info("peername")
            host = str(peer[0]) if peer else None
            self.client = clients.client(host, None)
            self.proxied = clients.trusts(host)
        if self.proxied and forwarded_for:
            peer = self.transport.get_extra_info("peername")
            return clients.client(str(peer[0]) if peer else None, forwarded_for)
        return self.client

    def _limited(self, decision: Decision) -> Limited | None:
        """The client's request rate, before anything is done for a request."""
        if isinstance(decision, AnswerPoll | Attach):
            forwarded = decision.forwarded_for
        elif isinstance(decision, Carry | ToApp):
            forwarded = decision.request.header(b"x-forwarded-for")
        else:
            return None
        return self.services.clients.request(self._client_of(forwarded))

    def _refuse_limited(self, decision: Decision, limited: Limited) -> None:
        """429, in the form the request can still take: an HTTP answer, or for a WebSocket
        already upgraded an error message and a close ("try again later")."""
        self.services.refusals.note(limited.code)
        headers = (("Retry-After", limited.retry_after),)
        problem = Problem(limited.code, limited.detail, headers=headers)
        if isinstance(decision, Attach) and decision.kind is Kind.WS:
            message = orjson.dumps({"type": "error", "detail": limited.detail})
            self.put(ws_text_frame(message) + b"\x88\x02\x03\xf5")  # close 1013
            self._close()
            return
        keep = isinstance(decision, AnswerPoll | Carry | ToApp) and (
            decision.keep_alive if isinstance(decision, AnswerPoll) else decision.request.keep_alive
        )
        self.put(self.front.wire.problem(problem, None, keep))
        if isinstance(decision, Carry | ToApp):
            self.core.answered(self.loop.time(), keep)
        elif isinstance(decision, Attach):
            self._close()  # the core took it for a stream: nothing more can follow

    @property
    def services(self) -> Services:
        services = self.front.services
        assert services is not None
        return services

    def _do(self, decision: Decision) -> None:
        limited = self._limited(decision)
        if limited is not None:
            self._refuse_limited(decision, limited)
        elif isinstance(decision, AnswerPoll):
            self._answer(decision)
        elif isinstance(decision, Send):
            self.put(decision.data)
            if decision.close:
                self._close()
        elif isinstance(decision, Attach):
            self._attach(decision)
        elif isinstance(decision, Carry):
            self.busy = self.loop.create_task(self._carry(decision))
        elif isinstance(decision, ToApp):
            from tryvoha.server.front.asgi import run_app

            self.busy = self.loop.create_task(run_app(self, decision.request))
        elif isinstance(decision, Refuse):
            self._refuse(decision)
        elif isinstance(decision, Close):
            self._close()

    def put(self, data: bytes) -> None:
        if self.gone:
            return
        self.write(data)
        if self.transport.get_write_buffer_size() > self.front.max_queued:
            self.abort("over_queue")

    def _answer(self, decision: AnswerPoll) -> None:
        """A poll: answered at once, unless its API key must first be looked up."""
        services = self.front.services
        assert services is not None
        entry = decision.entry
        try:
            ready = polls.admit_now(
                services, entry, decision.authorization, query_pairs(decision.query)
            )
        except Refusal as refusal:
            self._refused_poll(decision, refusal)
            return
        if ready:
            self._poll(decision)
        else:
            self.busy = self.loop.create_task(self._answer_later(decision))

    async def _answer_later(self, decision: AnswerPoll) -> None:
        services = self.front.services
        assert services is not None
        try:
            await polls.admit(
                services, decision.entry, decision.authorization, query_pairs(decision.query)
            )
        except Refusal as refusal:
            self._refused_poll(decision, refusal)
        else:
            self._poll(decision)
        finally:
            self.busy = None
        self._run()

    def _poll(self, decision: AnswerPoll) -> None:
        front = self.front
        assert front.services is not None
        try:
            cached = polls.view(front.services, decision.entry, dict(decision.params))
        except (Refusal, Problem) as error:
            self._refused_poll(decision, error)
            return
        self.put(
            front.wire.poll(
                cached,
                decision.if_none_match,
                decision.if_modified_since,
                decision.keep_alive,
                decision.head,
            )
        )
        if front.access_log:
            self._log(decision.request_line, 200)

    def _refused_poll(self, decision: AnswerPoll, error: Refusal | Problem) -> None:
        answer = polls.refused(decision.entry, error, decision.path)
        self.put(
            self.front.wire.answer(answer.status, answer.headers, answer.body, decision.keep_alive)
        )
        if self.front.access_log:
            self._log(decision.request_line, answer.status)

    def _refuse(self, decision: Refuse) -> None:
        if decision.close and self.front.services is not None:
            self.front.services.refusals.note(decision.reason)
        self.put(self.front.wire.problem(decision.problem, None, not decision.close))
        if self.front.access_log:
            self._log("(refused)", decision.problem.status)
        if decision.close:
            self._close()

    def _attach(self, decision: Attach) -> None:
        services = self.services
        client = self._client_of(decision.forwarded_for)
        limited = services.clients.open_stream(client)
        if limited is not None:
            self._refuse_limited(decision, limited)
            return
        self.streaming_as = client
        kind, ask = decision.kind, decision.ask
        self.kind = kind
        if kind is Kind.WS:
            self.sub = services.fanout.subscribe(self, kind, ask.filter, ask.after, _hello)
        else:
            head = self.front.wire.stream_head(kind is Kind.SSE_CHUNKED)
            self.put(head + (chunk(RETRY) if kind is Kind.SSE_CHUNKED else RETRY))
            self.sub = services.fanout.subscribe(self, kind, ask.filter, ask.after)
        if self.front.access_log:
            self._log(decision.request_line, 200 if kind is not Kind.WS else 101)

    def _close(self) -> None:
        """Close once what is queued is out; a client that will not take it is reset
        after the keep-alive time."""
        if self.gone or self.transport.is_closing():
            return
        pending = self.transport.get_write_buffer_size()
        self.transport.close()
        if pending:
            self.loop.call_later(self.front.limits.keep_alive_seconds, self.abort)

    # -- writes ---------------------------------------------------------------------------------

    async def _carry(self, decision: Carry) -> None:
        front, request = self.front, decision.request
        services = front.services
        assert services is not None
        status = 500
        try:
            command = decision.entry.command(
                services.tree,
                decision.params,
                query_pairs(request.query),
                request.body,
                request.header(b"content-type"),
            )
            answer = await carry_out(
                services,
                command,
                WriteRequest(
                    request.method,
                    request.path,
                    request.query.decode("latin-1"),
                    request.body,
                    request.header(b"authorization"),
                    request.header(b"idempotency-key"),
                    request.header(b"content-type"),
                ),
            )
            status = answer.status
            data = front.wire.answer(status, answer.headers, answer.body, request.keep_alive)
        except ANSWERED as e:
            problem: Problem = as_problem(e)
            status = problem.status
            data = front.wire.problem(problem, request.path, request.keep_alive)
        except Exception:
            status = 500
            data = front.wire.problem(crash_problem(request.path), request.path, request.keep_alive)
        # the write stands whether or not its client is still there to hear of it
        self.answered(
            data,
            request.keep_alive,
            f"{request.method} {request.target.decode('latin-1')} HTTP/{request.http_version}",
            status,
        )

    def answered(self, data: bytes, keep_alive: bool, line: str, status: int) -> None:
        """The answer to the request in progress (a write's, or the app's last bytes)."""
        self.busy = None
        if self.gone:
            return
        if data:
            self.put(data)
        if self.front.access_log:
            self._log(line, status)
        self.core.answered(self.loop.time(), keep_alive and not self.closing_after)
        self._run()

    # -- flow control, for the app's answers ---------------------------------------------------

    async def room(self) -> None:
        """Until the write buffer is below the low-water mark (or the client is gone)."""
        while self.congested and not self.gone:
            self.waiter = self.loop.create_future()
            await self.waiter

    async def disconnected(self) -> None:
        """Until the client has gone."""
        if not self.gone:
            if self.lost is None:
                self.lost = self.loop.create_future()
            await self.lost

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _reading(self) -> None:
        """Read while there is room to answer and nothing is being answered."""
        stop = self.congested or self.busy is not None
        if stop != self.paused and not self.gone and not self.transport.is_closing():
            self.paused = stop
            if stop:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    # -- deadlines -------------------------------------------------------------------------------

    def _arm(self) -> None:
        deadline = self.core.deadline
        if deadline is None or self.gone:
            return
        if self.timer is not None:
            if self.timer_at <= deadline:
                return  # it fires first and looks again
            self.timer.cancel()
        self.timer = self.loop.call_at(deadline, self._expire)
        self.timer_at = deadline

    def _expire(self) -> None:
        self.timer = None
        decision = self.core.expire(self.loop.time())
        if decision is not None:
            self._do(decision)
            self._run()
        else:
            self._arm()

    # -- the server stops --------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Streams end properly, idle connections close, an answer in progress goes out
        first."""
        if self.gone:
            return
        if self.kind is Kind.SSE_CHUNKED:
            self.put(LAST_CHUNK)
        decision = self.core.shutdown()
        if decision is None:
            self.closing_after = True
            return
        if self.kind is Kind.WS and not isinstance(decision, Send):
            self.put(WS_GOING_AWAY)
        self._do(decision)
        self._close()

    def _log(self, line: str, status: int) -> None:
        """One access-log line; a `token=` in the query (alerts.in.ua's API key) is never
        written, nor is any header (Authorization least of all)."""
        host, port = (self.transport.get_extra_info("peername") or ("-", 0))[:2]
        access.info('%s:%d - "%s" %d', host, port, SECRET_IN_QUERY.sub(r"\1***", line), status)


def _hello(seq: int) -> bytes:
    return ws_text_frame(b'{"type":"hello","seq":%d}' % seq)
