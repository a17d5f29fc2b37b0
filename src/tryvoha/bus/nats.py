"""The bus across machines: NATS JetStream.

A process that writes publishes every event it commits to one stream, with
`Nats-Msg-Id` = its seq, after the commit and never in the write's way: the write is
answered at once and a task publishes behind it. The store is its outbox: an event the
stream has not confirmed stays owed, and is published again once NATS is back (a
re-publish within the duplicate window is dropped by JetStream itself; past it, every
reader skips a seq it has). A writer that starts owes the store's newest events the
stream does not have (a writer that died between commit and publish).

Every process follows the stream: on each (re)connection it subscribes to what comes next
(an ordered push consumer from the stream's end), then reads from the store what the log
holds past its own seq; an event committed before the subscription is in the store, one
committed after it comes by the stream. A gap in seq (a stream that lost messages, two
writers whose publishes crossed) is filled from the store, never skipped
(`Engine.deliver`). While NATS is away the store is polled every second, and now and then
even when it is not: a missed message is late, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy, DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from tryvoha.bus.base import BusState, Receiver, seq_of
from tryvoha.domain.events import Seq
from tryvoha.store.base import Committed, EventLog

log = logging.getLogger(__name__)

MSG_ID = "Nats-Msg-Id"
STREAM_MAX_AGE_SECONDS = 3600.0  # the store keeps everything; the stream, the last hour
STREAM_MAX_MSGS = 1_000_000
DUPLICATE_WINDOW_SECONDS = 600.0
STREAM_EXISTS_OTHERWISE = 10058  # JetStream: the name is taken with another configuration
PUBLISH_BATCH = 500
PUBLISH_SECONDS = 5.0  # for a batch's acknowledgements
OUTBOX_MAX = 10_000  # owed events kept in memory; past that they are read from the store
REPUBLISH_MAX = 10_000  # at start, at most this many of the store's newest events
POLL_SECONDS = 5.0  # the store, while the stream is followed
OFFLINE_POLL_SECONDS = 1.0  # the store, while NATS is away
RECONNECT_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 5.0
HEARTBEAT_SECONDS = 2.0


class NatsBus:
    def __init__(
        self,
        servers: Sequence[str],
        stream: str,
        store: EventLog,
        *,
        publish: bool,
        replicas: int = 1,
        name: str = "tryvoha",
    ) -> None:
        self.servers = list(servers)
        self.stream = stream
        self.subject = f"{stream}.events"
        self.store = store
        self.publishes = publish
        self.replicas = replicas
        self.name = name
        self.heard = Seq(0)  # the newest seq the stream brought
        self.confirmed = Seq(0)  # the newest seq the stream confirmed holding
        self.caught_up = False
        self.following = False
        self._receiver: Receiver | None = None
        self._nc = Client()
        self._js: JetStreamContext | None = None
        self._sub: Subscription | None = None
        self._session_due = asyncio.Event()  # (re)connected: subscribe and catch up again
        self._publish_due = asyncio.Event()
        self._went_away = asyncio.Event()  # NATS was lost: poll the store at once
        self._outbox: dict[int, bytes] = {}  # this process's commits not yet confirmed
        self._backlog: tuple[Seq, Seq] | None = None  # (after, until]: owed, in the store
        self._owed_from_start: Seq | None = None  # the log's end when this process started
        self._store_ok = True  # the last read of the store succeeded
        self._tasks: list[asyncio.Task[None]] = []
        self._quiet_errors = False

    # -- Bus -------------------------------------------------------------------------

    async def start(self, receiver: Receiver) -> None:
        """Returns at once: a process serves (from the store) while NATS is away."""
        self._receiver = receiver
        if self.publishes:
            self._owed_from_start = receiver.seq
        self._spawn(self._run())
        self._spawn(self._poll())
        if self.publishes:
            self._spawn(self._publish())

    async def published(self, committed: Sequence[Committed]) -> None:
        """Owed from now on; never waits (the write's answer is being made)."""
        if not self.publishes or not committed:
            return
        for c in committed:
            self._outbox[c.event.seq] = c.raw
        if len(self._outbox) > OUTBOX_MAX:  # NATS is long gone: the store holds them
            seqs = list(self._outbox)
            self._owe(Seq(seqs[0] - 1), Seq(seqs[-1]))
            self._outbox.clear()
        self._publish_due.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._nc.close(), 5)

    def state(self) -> BusState:
        owed = len(self._outbox)
        if self._backlog is not None:
            owed += self._backlog[1] - self._backlog[0]
        return BusState(
            kind="nats",
            connected=self.following and self._nc.is_connected,
            caught_up=self.caught_up,
            heard=self.heard,
            published=self.confirmed if self.publishes else None,
            unpublished=owed,
            store_ok=self._store_ok,
        )

    # -- following -----------------------------------------------------------------------

    async def _run(self) -> None:
        await self._nc.connect(
            servers=self.servers,
            name=self.name,
            allow_reconnect=True,
            max_reconnect_attempts=-1,  # forever, this first connection included
            reconnect_time_wait=RECONNECT_SECONDS,  # type: ignore[arg-type]
            connect_timeout=2,
            disconnected_cb=self._disconnected,
            reconnected_cb=self._reconnected,
            error_cb=self._error,
        )
        log.info("NATS: connected to %s", _where(self._nc))
        self._js = self._nc.jetstream(timeout=PUBLISH_SECONDS)
        self._session_due.set()
        backoff = 0.1
        while True:
            await self._session_due.wait()
            self._session_due.clear()
            try:
                await self._session()
                backoff = 0.1
            except Exception as e:
                self.following = False
                log.warning("NATS: cannot follow the stream (%s); again in %.1f s", e, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                self._session_due.set()

    async def _session(self) -> None:
        """Subscribe to what comes next, then read what the store has before it."""
        assert self._js is not None and self._receiver is not None
        await self._ensure_stream()
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        self._sub = await self._js.subscribe(
            self.subject,
            stream=self.stream,
            cb=self._heard,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            idle_heartbeat=HEARTBEAT_SECONDS,
        )
        self.following = True
        await self._receiver.catch_up()
        self._store_ok = True
        self.caught_up = True
        if self.publishes:
            if self._owed_from_start is not None:
                await self._owe_what_the_stream_lacks(self._owed_from_start)
                self._owed_from_start = None
            self._publish_due.set()
        self._quiet_errors = False
        log.info("NATS: following %s from seq %s", self.subject, self._receiver.seq)

    async def _ensure_stream(self) -> None:
        assert self._js is not None
        try:
            await self._js.stream_info(self.stream)
            return
        except NotFoundError:
            pass
        config = StreamConfig(
            name=self.stream,
            subjects=[self.subject],
            storage=StorageType.FILE,
            max_age=STREAM_MAX_AGE_SECONDS,
            max_msgs=STREAM_MAX_MSGS,
            discard=DiscardPolicy.OLD,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=self.replicas,
        )
        try:
            await self._js.add_stream(config)
            log.info("NATS: created the stream %s (%d replicas)", self.stream, self.replicas)
        except BadRequestError as e:
            if e.err_code != STREAM_EXISTS_OTHERWISE:  # made meanwhile by another process
                raise

    async def _heard(self, msg: Msg) -> None:
        assert self._receiver is not None
        seq = self._seq(msg)
        if seq > self.heard:
            self.heard = seq
        if seq > self._receiver.seq:  # not one of its own, nor one read from the store
            self._receiver.deliver([msg.data])

    @staticmethod
    def _seq(msg: Msg) -> Seq:
        header = (msg.headers or {}).get(MSG_ID, "")
        return Seq(int(header)) if header.isdigit() else seq_of(msg.data)

    async def _poll(self) -> None:
        """The store, now and then: what the stream did not bring (or cannot, now)."""
        assert self._receiver is not None
        while True:
            online = self.following and self._nc.is_connected
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._went_away.wait(), POLL_SECONDS if online else OFFLINE_POLL_SECONDS
                )
            self._went_away.clear()
            try:
                await self._receiver.catch_up()
            except Exception as e:
                self._store_ok = False
                log.warning("could not read new events from the store: %s", e)
            else:
                self._store_ok = True
                if not online:
                    self.caught_up = True  # by the store alone, a second behind at most

    async def _disconnected(self) -> None:
        if self.following:
            log.warning("NATS: disconnected; reading the store every %.0f s", OFFLINE_POLL_SECONDS)
        self.following = False
        self._went_away.set()

    async def _reconnected(self) -> None:
        log.info("NATS: reconnected to %s", _where(self._nc))
        self._session_due.set()

    async def _error(self, e: Exception) -> None:
        if not self._quiet_errors:  # the first of a run of failures; the rest at debug
            log.warning("NATS: %s", e or type(e).__name__)
            self._quiet_errors = True
        else:
            log.debug("NATS: %s", e)

    # -- publishing ----------------------------------------------------------------------

    def _owe(self, after: Seq, until: Seq) -> None:
        if self._backlog is not None:
            after, until = Seq(min(after, self._backlog[0])), Seq(max(until, self._backlog[1]))
        if until > after:
            self._backlog = (after, until)

    async def _owe_what_the_stream_lacks(self, end: Seq) -> None:
        """At start: the store's newest events past the stream's last (a writer that
        died between its commit and its publish)."""
        assert self._js is not None
        try:
            last = await self._js.get_last_msg(self.stream, self.subject)
            header = (last.headers or {}).get(MSG_ID, "0")
            newest = Seq(int(header)) if str(header).isdigit() else Seq(0)
        except NotFoundError:
            newest = Seq(0)
        self.confirmed = Seq(max(self.confirmed, min(newest, end)))
        if newest < end:
            self._owe(Seq(max(newest, end - REPUBLISH_MAX)), end)

    async def _publish(self) -> None:
        backoff = 0.1
        while True:
            await self._publish_due.wait()
            self._publish_due.clear()
            while self._ready_to_publish() and self._owed():
                try:
                    await self._publish_batch()
                    backoff = 0.1
                except Exception as e:
                    log.warning("NATS: could not publish (%s); again in %.1f s", e, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    self._session_due.set()  # the stream may be gone: make sure of it
                    break

    def _ready_to_publish(self) -> bool:
        """Connected, and what was owed at start is known (before anything newer is
        published: the stream's last message tells where the owed events begin)."""
        return self._js is not None and self._nc.is_connected and self._owed_from_start is None

    def _owed(self) -> bool:
        return bool(self._outbox) or self._backlog is not None

    async def _publish_batch(self) -> None:
        """The oldest owed events, published together; confirmed all or none."""
        assert self._js is not None
        if self._backlog is not None:
            after, until = self._backlog
            raws = await self.store.read_events(after, min(PUBLISH_BATCH, until - after))
            batch: list[tuple[int, bytes]] = [(seq_of(raw), raw) for raw in raws]
        else:
            batch = list(self._outbox.items())[:PUBLISH_BATCH]
        if batch:
            await self._send(batch)
            self.confirmed = Seq(max(self.confirmed, batch[-1][0]))
        if self._backlog is not None:
            after, until = self._backlog
            done = batch[-1][0] if batch else until
            self._backlog = (Seq(done), until) if done < until else None
        else:
            for seq, _ in batch:
                self._outbox.pop(seq, None)

    async def _send(self, batch: Sequence[tuple[int, bytes]]) -> None:
        assert self._js is not None
        futures: list[asyncio.Future[Any]] = []
        try:
            for seq, raw in batch:
                futures.append(
                    await self._js.publish_async(
                        self.subject,
                        raw,
                        wait_stall=PUBLISH_SECONDS,
                        headers={MSG_ID: str(seq)},
                    )
                )
            await asyncio.wait_for(asyncio.gather(*futures), PUBLISH_SECONDS)
        finally:
            for future in futures:
                future.cancel()  # those still waiting: the batch is sent again

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro))


def _where(nc: Client) -> str:
    """The server's host and port, never the user and password the URL may carry."""
    url = nc.connected_url
    if url is None:
        return "?"
    return f"{url.hostname}:{url.port}" if url.port else str(url.hostname)
