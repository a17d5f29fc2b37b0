"""The one-box bus: a hub in the supervisor process relays committed events between the
serving processes over a Unix socket.

Each serving process commits to the shared store itself and tells the hub (`EVENT <json>`);
the hub relays every event, in seq order, to every process (`<json>` lines). An event that
arrives out of order, or one the hub never heard of (a process died between commit and
telling, an import wrote to the store), is read from the store: the store is the truth,
the hub only makes it fast. A process (re)connects with `AFTER <seq>` and is sent what it
missed first. This is the writer/edge split of DESIGN.md on one machine; NATS JetStream
takes the hub's place across machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, cast

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from tryvoha.bus.base import BusState, Receiver, seq_of
from tryvoha.domain.events import Seq
from tryvoha.store.base import Committed, Store

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
PAGE = 1000
SLOW_BYTES = 64 << 20  # a serving process this far behind is dropped; it reconnects


class _Edge(asyncio.Protocol):
    """The hub's side of one serving process."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.transport: asyncio.Transport | None = None
        self.pending = b""
        self.joined = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.edges.discard(self)

    def data_received(self, data: bytes) -> None:
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        heard: list[bytes] = []
        for line in lines:
            verb, _, rest = line.partition(b" ")
            if verb == b"EVENT":
                heard.append(rest)
            elif verb == b"AFTER" and rest.isdigit() and not self.joined:
                self.joined = True
                self.hub.spawn(self.hub.join(self, Seq(int(rest))))
            else:
                log.warning("hub: unexpected line from a serving process: %r", line[:80])
        if heard:
            self.hub.heard(heard)

    def send(self, raws: Sequence[bytes]) -> None:
        transport = self.transport
        if transport is None or transport.is_closing() or not raws:
            return
        transport.write(b"\n".join(raws) + b"\n")
        if transport.get_write_buffer_size() > SLOW_BYTES:
            log.warning("hub: a serving process fell too far behind; dropping it")
            transport.close()


class Hub:
    def __init__(self, store: Store, path: Path, poll_seconds: float = POLL_SECONDS) -> None:
        self.store = store
        self.path = path
        self.poll_seconds = poll_seconds
        self.seq = Seq(0)
        self.edges: set[_Edge] = set()
        self._server: asyncio.AbstractServer | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.seq = await self.store.last_seq()
        self._server = await asyncio.get_running_loop().create_unix_server(
            lambda: _Edge(self), str(self.path)
        )
        self.spawn(self._poll())

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for edge in list(self.edges):
            if edge.transport is not None:
                edge.transport.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def heard(self, raws: Sequence[bytes]) -> None:
        """A serving process committed these events."""
        if not self._relay(raws):
            self.spawn(self.advance())  # something came before them: the store has it

    def _relay(self, raws: Sequence[bytes]) -> bool:
        """Relay the events that follow the hub's seq, in order, to every process; skip
        those relayed already. False when one is missing before some of them."""
        relay: list[bytes] = []
        complete = True
        for raw in raws:
            seq = seq_of(raw)
            if seq > self.seq + 1:
                complete = False
                break
            if seq == self.seq + 1:
                self.seq = Seq(seq)
                relay.append(raw)
        if relay:
            for edge in list(self.edges):
                edge.send(relay)
        return complete

    async def advance(self) -> None:
        """Relay whatever the store has after the hub's seq."""
        async with self._lock:
            while True:
                raws = await self.store.read_events(self.seq, PAGE)
                self._relay(raws)
                if len(raws) < PAGE:
                    return

    async def join(self, edge: _Edge, after: Seq) -> None:
        """Send a (re)connecting process what it missed, then the live relay."""
        position = after
        while position < self.seq:
            raws = await self.store.read_events(position, PAGE)
            if not raws:
                break
            edge.send(raws)
            position = Seq(seq_of(raws[-1]))
        if edge.transport is not None and not edge.transport.is_closing():
            self.edges.add(edge)
        if position > self.seq:
            await self.advance()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.advance()
            except Exception:
                log.exception("hub: could not read the store")


class HubBus:
    """A serving process's side: receives the relay, tells the hub of its own commits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self._heard = Seq(0)

    async def start(self, receiver: Receiver) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(receiver))
        await asyncio.wait_for(self.connected.wait(), 30)

    async def _run(self, receiver: Receiver) -> None:
        """Stay connected to the hub for the life of the process, whatever goes wrong:
        each time it goes, read what the store has meanwhile and connect again; while it
        cannot be reached, wait a little longer each time (a connection that was up starts
        the waiting afresh: a drop under load costs 0.05 s, not the longest wait)."""

        async def meanwhile(_: RetryCallState | None = None) -> None:
            try:
                await receiver.catch_up()  # what the store has, while the hub is away
            except Exception:
                log.exception("could not read the store while reconnecting to the hub")

        while True:
            async for attempt in AsyncRetrying(
                wait=wait_exponential_jitter(initial=0.05, max=2.0, jitter=0.05),
                retry=retry_if_exception_type(Exception),
                before_sleep=meanwhile,
            ):
                with attempt:
                    try:
                        await self._relay(receiver)  # returns when a live connection ends
                    except OSError:
                        raise  # no hub yet, or it cannot be reached
                    except Exception:
                        log.exception("hub relay failed; reconnecting")
                        raise
                    finally:
                        self._writer = None
            await meanwhile()

    async def _relay(self, receiver: Receiver) -> None:
        reader, writer = await asyncio.open_unix_connection(str(self.path), limit=16 << 20)
        try:
            writer.write(b"AFTER %d\n" % receiver.seq)
            self._writer = writer
            self.connected.set()
            pending = b""
            try:
                while data := await reader.read(1 << 20):
                    lines = (pending + data).split(b"\n")
                    pending = lines.pop()
                    if lines and lines[-1]:
                        self._heard = Seq(max(self._heard, seq_of(lines[-1])))
                    receiver.deliver(lines)  # all complete lines at once: one fan-out
            except OSError:
                pass  # reset by the hub: as lost as a close
            log.warning("lost the hub; reconnecting")
        finally:
            writer.close()

    async def published(self, committed: Sequence[Committed]) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.writelines([b"EVENT " + c.raw + b"\n" for c in committed])

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def state(self) -> BusState:
        up = self._writer is not None
        return BusState(
            kind="hub", connected=up, caught_up=self.connected.is_set(), heard=self._heard
        )
