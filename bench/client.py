"""One fan-out client process: holds up to ~15,000 subscribers on raw asyncio protocols.

Run as `python -m bench.client`; the controller (`bench.swarm`) speaks to it in JSON
lines over stdin and stdout:

    connect {target, count, sources, concurrency, timeout_s, verify}
        -> progress {connected, failed} ... -> connected {connected, failed, errors}
    stop                  end a connect early (the controller saw it stall)
    arm {expect, marker}  a round begins: each subscriber now expects `expect` events,
                          the last of which starts with the bytes `marker`
        -> armed {live};  later, once every subscriber seems to have them: complete
    collect               -> round {times, missing, lost, bytes, reads, user_ns, ...}
    ids                   -> ids {ids}   (verify mode: every id each subscriber received)
    close                 -> closed {errors}; every socket is reset and the process ends

A subscriber is "ready" when the server has confirmed it: SSE once the response head
and the first body bytes came; WebSocket once the upgrade answered 101 and, when the
target wants a hello, the server's `{"type":"hello"...}` message arrived.

Timing without being the bottleneck: while a round runs, a read costs a timestamp, an
append and a look at its own tail for the round's last event (its JSON begins with
`{"seq":<last seq>,`, in tryvoha's events and in the payloads the bench publishes to
nchan). Every byte is parsed after the round, untimed: dechunked, split into events,
each id checked to be above the one before it (so none is repeated or out of order)
and counted; a subscriber's receipt time is the time of the read that completed its
count. The tail look only tells the controller when it may collect.
Receipt times are CLOCK_MONOTONIC nanoseconds, the clock the controller stamps its
send with.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import resource
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, cast

import orjson

from bench.wire import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WS_ACCEPT,
    Dechunker,
    SseReader,
    WireError,
    WsReader,
    request,
    split_head,
    ws_client_frame,
    ws_upgrade,
)

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
PROGRESS_SECONDS = 0.2
QUIET_SECONDS = 5.0  # a round with no byte read for this long is over, complete or not
HELLO_PREFIX = b'{"type":"hello"'
SEQ_PREFIX = b'{"seq":'


@dataclass(frozen=True, slots=True)
class Target:
    """Where subscribers connect and how they are confirmed."""

    name: str  # "tryvoha" or "nchan"
    transport: str  # "sse" or "ws"
    host: str
    port: int
    path: str
    ws_hello: str | None = None  # text sent first on a WebSocket; a hello message answers

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "transport": self.transport,
            "host": self.host,
            "port": self.port,
            "path": self.path,
            "ws_hello": self.ws_hello,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Target:
        return cls(**data)


class Subscriber(asyncio.Protocol):
    __slots__ = (
        "complete_ns",
        "count",
        "dechunk",
        "head",
        "ids",
        "last",
        "marker_left",
        "reads",
        "ready",
        "round",
        "signalled",
        "sse",
        "tail",
        "transport",
        "w",
        "waiter",
        "ws",
    )

    def __init__(self, worker: Worker) -> None:
        self.w = worker
        self.transport: asyncio.Transport | None = None
        self.head: bytes | None = b""  # the response head while it is being read
        self.dechunk: Dechunker | None = None
        self.sse: SseReader | None = SseReader() if worker.sse else None
        self.ws: WsReader | None = None if worker.sse else WsReader()
        self.ready = False
        self.waiter: asyncio.Future[None] | None = worker.loop.create_future()
        self.ids: list[str] | None = [] if worker.verify else None
        self.last = b""  # the last event id seen
        self.reads: list[tuple[int, bytes]] = []  # (monotonic ns, bytes) not yet parsed
        # the round in progress
        self.round = 0
        self.count = 0  # events of this round
        self.complete_ns = 0  # when the read that completed this round's count came
        self.signalled = 0  # the round for which the worker was told this one is done
        self.marker_left = -1  # bytes of the last event still to come, once seen
        self.tail = b""  # the end of the previous read, for a marker split across reads

    # -- asyncio callbacks ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.w.request_bytes)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        w = self.w
        w.bytes += len(data)
        w.reads += 1
        w.last_read_ns = now
        if w.marker and self.head is None:
            # The timed path: keep the read, look for the round's last event in its tail.
            self.reads.append((now, data))
            if self.signalled != w.round and self.seen_last_event(data, w.marker):
                self.signalled = w.round
                w.signal_one(now)
            return
        self.reads.append((now, data))
        self.parse()

    def connection_lost(self, exc: Exception | None) -> None:
        w = self.w
        if not self.ready:
            self.fail(_reason(exc) if exc else "closed before it was confirmed")
            return
        w.live -= 1
        if not w.closing:
            w.errors["connection lost: " + (_reason(exc) if exc else "closed by server")] += 1
            if w.armed and self.signalled != w.round:
                self.signalled = w.round
                w.lost += 1
                w.signal_one(time.monotonic_ns())

    # -- the round's last event, found cheaply ------------------------------------

    def seen_last_event(self, data: bytes, marker: bytes) -> bool:
        """Whether this read completes the frame of the round's last event. A guess, made
        from the read's own bytes; the parse after the round has the final word."""
        if self.marker_left == -1:  # not seen yet
            pos = data.rfind(marker)
            if pos < 0:  # perhaps split between the previous read and this one
                joined = self.tail + data[: len(marker)]
                at = joined.find(marker)
                pos = at - len(self.tail)
                self.tail = data[-len(marker) :]
                if at < 0:
                    return False
            if self.sse is not None:
                self.marker_left = 0
            else:
                self.marker_left = self.ws_frame_left(data, pos)
                return self.marker_left == 0
        if self.sse is not None:  # the frame ends at the first frame boundary after it
            return data.endswith(b"\n\n") or data.endswith(b"\n\n\r\n")
        if self.marker_left == -2:
            return False
        self.marker_left = max(0, self.marker_left - len(data))
        return self.marker_left == 0

    @staticmethod
    def ws_frame_left(data: bytes, pos: int) -> int:
        """Bytes of the WebSocket frame whose payload starts at `pos` that are not in
        this read yet (0: all here); -2 when its header is not in this read."""
        if pos >= 4 and data[pos - 4] & 0x0F == OP_TEXT and data[pos - 3] == 126:
            size = (data[pos - 2] << 8) | data[pos - 1]
        elif pos >= 2 and data[pos - 2] & 0x0F == OP_TEXT and data[pos - 1] < 126:
            size = data[pos - 1]
        else:
            return -2
        return max(0, pos + size - len(data))

    # -- parsing (after the round, or at once outside rounds) ----------------------

    def parse(self) -> None:
        reads, self.reads = self.reads, []
        try:
            for now, data in reads:
                if self.head is not None:
                    rest = self._read_head(data)
                    if rest is None:
                        continue
                    data = rest
                if self.dechunk is not None:
                    data = self.dechunk.feed(data)
                    if self.dechunk.done:
                        self.fail("the server ended the stream")
                        return
                if self.sse is not None:
                    if not self.ready and data:
                        self.set_ready()
                    ids = self.sse.feed(data)
                    if ids:
                        self.on_events(ids, now)
                elif self.ws is not None:
                    seqs: list[bytes] = []
                    for opcode, payload in self.ws.feed(data):
                        if opcode == OP_TEXT and payload.startswith(SEQ_PREFIX):
                            end = payload.find(b",", 7)
                            seqs.append(payload[7:end])
                        else:
                            self.on_ws_message(opcode, payload)
                    if seqs:
                        self.on_events(seqs, now)
        except WireError as e:
            self.fail(f"protocol: {e}")

    def _read_head(self, data: bytes) -> bytes | None:
        assert self.head is not None
        got = split_head(self.head + data)
        if got is None:
            self.head += data
            return None
        head, rest = got
        self.head = None
        if self.sse is not None:
            if head.status != 200:
                self.fail(f"HTTP {head.status}")
                return None
            if head.chunked:
                self.dechunk = Dechunker()
        else:
            if head.status != 101 or head.headers.get("sec-websocket-accept") != WS_ACCEPT:
                self.fail(f"WebSocket upgrade answered HTTP {head.status}")
                return None
            if self.w.hello_frame is None:
                self.set_ready()
            elif self.transport is not None:
                self.transport.write(self.w.hello_frame)
        return rest

    def on_ws_message(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_TEXT or opcode == OP_BINARY:
            if not self.ready and payload.startswith(HELLO_PREFIX):
                self.set_ready()
            else:
                self.w.errors["unexpected message: " + payload[:60].decode(errors="replace")] += 1
        elif opcode == OP_PING:
            if self.transport is not None:
                self.transport.write(ws_client_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.w.errors[f"WebSocket closed by server ({code})"] += 1
            if self.transport is not None:
                self.transport.close()

    def on_events(self, event_ids: list[bytes], now: int) -> None:
        """Events that arrived in one read. Each id must be above the one before it
        (ids are decimal seqs, or nchan's `time:tag`, ordered by length then bytes)."""
        w = self.w
        last = self.last
        seen = self.ids
        good = 0
        for event_id in event_ids:
            if len(event_id) > len(last) or (len(event_id) == len(last) and event_id > last):
                last = event_id
                good += 1
                if seen is not None:
                    seen.append(event_id.decode())
            else:
                w.errors["event repeated or out of order"] += 1
        self.last = last
        if not good:
            return
        if not w.armed:
            w.errors["event outside a round"] += good
            return
        if self.round != w.round:
            self.round, self.count, self.complete_ns = w.round, 0, 0
        before = self.count
        self.count = count = before + good
        expect = w.expect
        if before < expect <= count:
            self.complete_ns = now
            if not w.marker and self.signalled != w.round:
                self.signalled = w.round
                w.signal_one(now)
        if count > expect:
            w.errors["more events than the round has"] += count - max(before, expect)

    # -- connection state -----------------------------------------------------------

    def set_ready(self) -> None:
        self.ready = True
        self.w.live += 1
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)
        self.waiter = None

    def fail(self, reason: str) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectFailed(reason))
        self.waiter = None
        if self.transport is not None and not self.transport.is_closing():
            if self.ready:
                self.w.errors[reason] += 1
            self.transport.abort()


class ConnectFailed(Exception):
    pass


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return type(exc).__name__


def cpu_times() -> tuple[int, int]:
    """User and system CPU of this process, in nanoseconds (microsecond resolution)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round(usage.ru_utime * 1e9), round(usage.ru_stime * 1e9)


class Worker:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.subs: list[Subscriber] = []
        self.sse = True
        self.verify = False
        self.request_bytes = b""
        self.hello_frame: bytes | None = None
        self.live = 0
        self.closing = False
        self.connect_errors: Counter[str] = Counter()
        # the current round
        self.round = 0
        self.expect = 0
        self.marker = b""
        self.armed = False
        self.pending = 0  # subscribers not yet signalled done
        self.armed_live = 0
        self.lost = 0
        self.bytes = 0
        self.reads = 0
        self.armed_ns = 0
        self.last_read_ns = 0
        self.cpu_start = (0, 0)
        self.cpu_end = (0, 0)
        self.last_ns = 0
        self.quiet = False
        self.watch: asyncio.Task[None] | None = None
        self.errors: Counter[str] = Counter()

    # -- connecting -------------------------------------------------------------

    async def connect(self, cmd: dict[str, Any]) -> None:
        target = Target.from_json(cmd["target"])
        self.sse = target.transport == "sse"
        self.verify = bool(cmd.get("verify"))
        host = f"{target.host}:{target.port}"
        if self.sse:
            self.request_bytes = request(
                "GET", target.path, host, {"Accept": "text/event-stream"}, b""
            )
        else:
            self.request_bytes = ws_upgrade(target.path, host)
        self.hello_frame = (
            ws_client_frame(OP_TEXT, target.ws_hello.encode()) if target.ws_hello else None
        )
        sources: list[str] = cmd["sources"]
        count: int = cmd["count"]
        timeout_s: float = cmd["timeout_s"]
        indexes = iter(range(count))

        async def runner() -> None:
            for i in indexes:
                await self.open_one(target, sources[i % len(sources)], timeout_s)

        reporter = self.loop.create_task(self.report_progress())
        runners = [self.loop.create_task(runner()) for _ in range(cmd["concurrency"])]
        try:
            await asyncio.gather(*runners)
        except asyncio.CancelledError:
            pass
        except Exception as e:  # a bug here must not leave the controller waiting
            self.connect_errors[f"client bug: {e!r}"] += 1
        finally:
            reporter.cancel()
            for task in runners:
                task.cancel()
            await asyncio.gather(*runners, return_exceptions=True)
            self.send(
                op="connected",
                connected=self.live,
                failed=sum(self.connect_errors.values()),
                errors=dict(self.connect_errors),
            )

    async def open_one(self, target: Target, source: str, timeout_s: float) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sub: Subscriber | None = None
        try:
            sock.setblocking(False)
            # Defer the choice of source port to connect(): the same port can then serve
            # other destinations, and S source addresses hold S x 28k connections per port.
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source, 0))
            async with asyncio.timeout(timeout_s):
                await self.loop.sock_connect(sock, (target.host, target.port))
                sub = made = Subscriber(self)
                confirmed = sub.waiter  # resolved by the protocol, perhaps before the next line
                await self.loop.create_connection(lambda: made, sock=sock)
                if confirmed is not None:
                    await confirmed
            self.subs.append(sub)
        except asyncio.CancelledError:
            self._discard(sub, sock)
            raise
        except (OSError, ConnectFailed, TimeoutError) as e:
            reason = (
                "timed out before confirmed"
                if isinstance(e, TimeoutError)
                else str(e)
                if isinstance(e, ConnectFailed)
                else _reason(e)
            )
            self.connect_errors[reason] += 1
            self._discard(sub, sock)

    @staticmethod
    def _discard(sub: Subscriber | None, sock: socket.socket) -> None:
        if sub is not None and sub.transport is not None:
            sub.waiter = None
            sub.transport.abort()
        else:
            sock.close()

    async def report_progress(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_SECONDS)
            self.send(op="progress", connected=self.live, failed=sum(self.connect_errors.values()))

    # -- rounds -----------------------------------------------------------------

    def arm(self, expect: int, marker: str | None) -> None:
        for sub in self.subs:  # whatever came between rounds counts as outside them
            if sub.reads:
                sub.parse()
        self.round += 1
        self.expect = expect
        self.marker = marker.encode() if marker else b""
        self.pending = self.armed_live = self.live
        self.lost = 0
        self.bytes = 0
        self.reads = 0
        self.last_ns = 0
        self.quiet = False
        self.errors = Counter()
        for sub in self.subs:
            sub.marker_left, sub.tail = -1, b""
        # A round allocates a tuple per read and no cycles: the cyclic collector would
        # only walk 15,000 subscribers again and again. It resumes at collect.
        gc.disable()
        self.cpu_start = cpu_times()
        self.cpu_end = (0, 0)
        self.armed_ns = self.last_read_ns = time.monotonic_ns()
        self.armed = True
        self.watch = self.loop.create_task(self.watch_quiet())
        self.send(op="armed", live=self.live)
        if self.pending == 0:
            self.finish(self.armed_ns)

    def signal_one(self, now: int) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.finish(now)

    def finish(self, now: int) -> None:
        if self.cpu_end == (0, 0):
            self.cpu_end = cpu_times()
            self.last_ns = now
            self.send(op="complete")

    async def watch_quiet(self) -> None:
        """End a round in which bytes stopped coming before every subscriber was done."""
        while self.armed and self.cpu_end == (0, 0):
            await asyncio.sleep(0.25)
            if time.monotonic_ns() - self.last_read_ns > QUIET_SECONDS * 1e9:
                self.quiet = True
                self.finish(self.last_read_ns)

    def collect(self) -> None:
        cpu_end = self.cpu_end if self.cpu_end != (0, 0) else cpu_times()
        gc.enable()
        if self.watch is not None:
            self.watch.cancel()
        times: list[int] = []
        early = late = 0
        for sub in self.subs:
            if sub.reads:
                sub.parse()
            done = sub.round == self.round and sub.complete_ns
            if done:
                times.append(sub.complete_ns)
            if sub.signalled == self.round and not done and sub.ready:
                early += 1
            elif done and sub.signalled != self.round:
                late += 1
        self.armed = False
        if early:  # the tail looked like the last event, the parse disagreed
            self.errors["seemed done but had not every event"] += early
        if late:  # the parse found every event, the tail look did not: no harm to timing
            self.errors["done but not seen as done until the round went quiet"] += late
        self.send(
            op="round",
            times=times,
            missing=self.armed_live - len(times),
            lost=self.lost,
            bytes=self.bytes,
            reads=self.reads,
            user_ns=cpu_end[0] - self.cpu_start[0],
            system_ns=cpu_end[1] - self.cpu_start[1],
            last_ns=self.last_ns,
            quiet=self.quiet,
            errors=dict(self.errors),
        )

    def close(self) -> None:
        self.closing = True
        for sub in self.subs:
            if sub.transport is not None:
                sub.transport.abort()  # RST: no TIME_WAIT left behind on either side
        self.send(op="closed", errors=dict(self.errors))

    @staticmethod
    def send(**message: Any) -> None:
        sys.stdout.buffer.write(orjson.dumps(message) + b"\n")
        sys.stdout.buffer.flush()


async def serve_commands() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    worker = Worker()
    connecting: asyncio.Task[None] | None = None
    while line := await reader.readline():
        cmd: dict[str, Any] = orjson.loads(line)
        op = cmd["op"]
        if op == "connect":
            connecting = loop.create_task(worker.connect(cmd))
        elif op == "stop":
            if connecting is not None and not connecting.done():
                connecting.cancel()
        elif op == "arm":
            worker.arm(cmd["expect"], cmd.get("marker"))
        elif op == "collect":
            worker.collect()
        elif op == "ids":
            worker.send(op="ids", ids=[s.ids or [] for s in worker.subs])
        elif op == "close":
            if connecting is not None and not connecting.done():
                connecting.cancel()
            worker.close()
            await asyncio.sleep(0)  # let the resets go out
            return


def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of tryvoha
        asyncio.run(serve_commands())
    else:
        uvloop.run(serve_commands())


if __name__ == "__main__":
    main()
