"""The MQTT channel: tryvoha's state, kept as retained messages on a broker, for sirens, LED
wall maps and Home Assistant (docs/devices.md). The driver around `mqtt_mirror.Mirror`.

One process publishes at a time: the holder of the `mqtt` lease (`LeaseKeeper`), across
`--workers N` and writers on many machines. On every connection it
1. subscribes to its own retained topics and reads what the broker holds, up to a marker
   it publishes to itself (the broker sends retained messages before the marker);
2. waits until its own view of the log has reached the highest seq the broker holds, so
   a restart, or a process behind another writer, never publishes an older state;
3. publishes every retained topic whose value the broker does not have (all of them after
   a broker restart without persistence), then `status` = `online` (its will: `offline`);
4. publishes the events after its cursor to `events`, and after each batch the retained
   topics the batch changed; the cursor (`mqtt:events` in the store, fenced by the lease)
   moves at most every 200 ms, so a kill -9 repeats at most those events (same seq).
While connected it keeps reading its topics: a message from anyone else (an old
process's last will, a stale or emptied retained topic) is answered with the truth.

Nothing here holds back a write or a stream: it reads committed events after the fact,
at its own pace, with no queue of its own; a broker that is down or slow costs this task
only (reconnects back off up to 5 s, forever; failures are logged at a bounded rate).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import ssl
import time
from collections.abc import Iterable
from itertools import chain

import aiomqtt
from paho.mqtt.subscribeoptions import SubscribeOptions
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential,
    wait_random,
)

from tryvoha.channels.lease import Holding
from tryvoha.channels.mqtt_mirror import Mirror, Publication, Setup, affected
from tryvoha.channels.source import EventSource, Item
from tryvoha.config import Settings
from tryvoha.domain.events import Seq, is_historical
from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.engine.feed import Feed
from tryvoha.protocol import mqtt as wire
from tryvoha.protocol.compat_locations import Locations

log = logging.getLogger(__name__)

LEASE = "mqtt"
CURSOR = "mqtt:events"
KEEPALIVE_SECONDS = 15  # a publisher that vanished is declared offline within ~1.5 x this
ANSWER_SECONDS = 10.0  # connect, subscribe, the marker's return
PUBLISH_SECONDS = 10.0  # a broker that acknowledges nothing this long is given up on
FLUSH_SECONDS = 0.2  # the cursor moves at most this often
INFLIGHT = 100  # unacknowledged publications at once (the client's window)
WINDOW = 50  # publications handed to the client at once (below INFLIGHT: none waits in it)
INCOMING = 50_000  # messages read and not yet handled (retained topics at a connect)
BACKOFF_SECONDS = 5.0  # reconnects back off up to this: a returning broker waits no longer
QUIET_SECONDS = 60.0  # a broker that stays down is mentioned this often
RECHECK_SECONDS = 1.0  # others' writes to our topics are answered at most this often
CLOSE_SECONDS = 2.0  # a stop waits this long for the broker to take our goodbye


class LostLeaseError(Exception):
    """The cursor could not move: another process holds the lease now."""


class Quiet:
    """Failures logged at a bounded rate: the first at once, then one line a minute."""

    def __init__(self, every: float = QUIET_SECONDS) -> None:
        self.every = every
        self.failures = 0
        self._last = -math.inf

    def failed(self, what: str, error: object = None) -> None:
        self.failures += 1
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            detail = "" if error is None else f": {error}"
            log.warning("MQTT: %s (%d times so far)%s", what, self.failures, detail)

    def recovered(self, what: str) -> None:
        if self.failures:
            log.warning("MQTT: %s after %d failures", what, self.failures)
        else:
            log.info("MQTT: %s", what)
        self.failures = 0
        self._last = -math.inf


class MqttChannel:
    def __init__(
        self,
        settings: Settings,
        feed: Feed,
        source: EventSource,
        tree: RegionTree,
        locations: Locations,
    ) -> None:
        self.broker = wire.BrokerUrl.parse(settings.mqtt.get_secret_value())
        self.topics = wire.Topics(settings.mqtt_prefix)
        self.feed = feed
        self.source = source
        self.tree = tree
        self.mirror = Mirror(
            Setup(
                self.topics,
                tree,
                locations,
                tuple(RegionId(r) for r in settings.mqtt_ha_regions),
                settings.mqtt_ha_prefix,
                settings.public_url,
            )
        )
        self.tls = _tls_context(settings.mqtt_ca) if self.broker.tls else None
        self.quiet = Quiet()
        self.others = Quiet()  # publications of someone else on our topics
        self.published = 0  # messages the broker acknowledged (for tests and logs)
        self._client: aiomqtt.Client | None = None
        self._online = False
        self._marker = asyncio.Event()
        self._dirty = asyncio.Event()  # someone else wrote to our topics
        self._sync_topic = ""

    @property
    def online(self) -> bool:
        """Connected, and the broker holds the truth (`status` says online)."""
        return self._online

    # -- run by the lease keeper ---------------------------------------------------------

    async def deliver(self, holding: Holding) -> None:
        """Publish while holding the lease: connect, and connect again, forever."""
        try:
            cursor = await self._first_cursor(holding)
            while True:
                retrying = AsyncRetrying(
                    retry=retry_if_exception_type(aiomqtt.MqttError),
                    wait=wait_exponential(multiplier=0.5, max=BACKOFF_SECONDS)
                    + wait_random(0, 0.5),
                    before_sleep=self._retrying,
                    reraise=True,
                )
                async for attempt in retrying:
                    with attempt:
                        cursor = await self._session(holding, cursor)
        except LostLeaseError:
            log.warning("MQTT: another process holds the lease now; this one stops publishing")

    async def close(self) -> None:
        """A graceful stop: tell the devices no server is publishing (the will covers any
        other end), before the lease is dropped."""
        client = self._client
        if client is None or not self._online:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await client.publish(self.topics.status, wire.OFFLINE, qos=wire.QOS, retain=True)

    def _retrying(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        self.quiet.failed(f"cannot publish to {self.broker}; trying again", error)

    async def _first_cursor(self, holding: Holding) -> Seq:
        """Where the events topic resumes: the stored cursor, or (the first time) now."""
        stored = await holding.store.read_cursors(CURSOR)
        if CURSOR in stored:
            return stored[CURSOR]
        cursor = self.feed.announced
        if not await holding.store.move_cursors({CURSOR: cursor}, holding.lease, holding.holder):
            raise LostLeaseError
        return cursor

    # -- one connection ------------------------------------------------------------------

    async def _session(self, holding: Holding, cursor: Seq) -> Seq:
        """One connection, until it fails. Raises MqttError when it failed before the
        broker held the truth (the back-off goes on); returns the cursor when it failed
        after (the back-off starts afresh)."""
        client_id = f"tryvoha-{secrets.token_hex(6)}"
        client = aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            username=self.broker.username,
            password=self.broker.password,
            identifier=client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            will=aiomqtt.Will(self.topics.status, wire.OFFLINE, qos=wire.QOS, retain=True),
            keepalive=KEEPALIVE_SECONDS,
            timeout=ANSWER_SECONDS,
            max_inflight_messages=INFLIGHT,
            max_queued_incoming_messages=INCOMING,
            tls_context=self.tls,
            logger=log,
        )
        client.pending_calls_threshold = 1 << 30  # a batch is many publications at once
        self._sync_topic = self.topics.sync(client_id)
        self._marker.clear()
        self._dirty.clear()
        self.mirror.reset()
        progress = _Progress(cursor)
        try:
            async with client:
                self._client = client
                reader = asyncio.create_task(self._read(client))
                writer = asyncio.create_task(self._write(client, holding, progress))
                try:
                    await _first_failure(reader, writer)
                finally:
                    client.timeout = CLOSE_SECONDS  # the goodbye (DISCONNECT) waits no longer
        except aiomqtt.MqttError as e:
            if not self._online:
                raise
            self.quiet.failed(f"lost the connection to {self.broker}", e)
        finally:
            self._client = None
            self._online = False
            if progress.pending:
                with contextlib.suppress(Exception):
                    await self._flush(holding, progress)
        return progress.cursor

    async def _read(self, client: aiomqtt.Client) -> None:
        """Everything the broker sends us: retained topics at first, the marker, then
        anyone else's publications on our topics."""
        async for message in client.messages:
            topic = message.topic.value
            if topic == self._sync_topic:
                self._marker.set()
                continue
            payload = message.payload
            raw = payload if isinstance(payload, bytes) else str(payload or "").encode()
            self.mirror.hear(topic, raw)
            if self._marker.is_set():
                self.others.failed(f"another client published to {topic}; answering")
                self._dirty.set()

    async def _write(self, client: aiomqtt.Client, holding: Holding, progress: _Progress) -> None:
        await self._sync(client)
        recheck = math.inf  # when to answer others' writes to our topics
        answered = -math.inf
        while True:
            items = await self._next(progress, min(progress.due_at, recheck))
            if items:
                live = [raw for event, raw in items if not is_historical(event.issuer)]
                events = [Publication(self.topics.events, raw, retain=False) for raw in live]
                touched = affected(self.tree, (event for event, _ in items))
                await self._send(
                    client, chain(events, self.mirror.plan(self.feed.projection, touched))
                )
                progress.moved(items[-1][0].seq)
            now = time.monotonic()
            if self._dirty.is_set():
                self._dirty.clear()
                recheck = min(recheck, max(now, answered + RECHECK_SECONDS))
            if now >= recheck:
                recheck, answered = math.inf, now
                await self._send(client, self.mirror.plan(self.feed.projection))
            if progress.due():
                await self._flush(holding, progress)

    async def _sync(self, client: aiomqtt.Client) -> None:
        """Read what the broker holds, wait until our view is at least as new, and
        publish what it lacks; then say online."""
        options = SubscribeOptions(qos=0, noLocal=True)  # QoS 0: brokers cap queued QoS 1
        filters = [(f, options) for f in self.mirror.filters()]
        await client.subscribe([*filters, (self._sync_topic, SubscribeOptions(qos=0))])
        await client.publish(self._sync_topic, b"sync", qos=wire.QOS)
        try:
            async with asyncio.timeout(ANSWER_SECONDS):
                await self._marker.wait()
        except TimeoutError:
            raise aiomqtt.MqttError("the broker did not return our marker") from None
        held = self.mirror.broker_seq()
        while held > self.feed.seq:  # never publish a state older than the broker's
            self.others.failed(
                f"the broker holds the state at seq {held}, this process is at "
                f"{self.feed.seq}: waiting for the log to reach it (a replaced store? "
                "see docs/devices.md)"
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(QUIET_SECONDS):
                    await self.feed.wait_for(held)
        self._dirty.clear()
        sent = await self._send(client, self.mirror.plan(self.feed.projection))
        self.mirror.online = True
        await self._send(client, self.mirror.plan(self.feed.projection))
        self._online = True
        self.quiet.recovered(
            f"publishing to {self.broker} at seq {self.feed.seq} "
            f"({sent} retained topics needed publishing)"
        )

    async def _next(self, progress: _Progress, deadline: float) -> list[Item]:
        """The next events after the cursor; none when woken for another reason (someone
        else wrote to our topics, or `deadline` came: the cursor or a check is due)."""
        found = await self.source.now_after(progress.cursor)
        if found or self._dirty.is_set():
            return found
        timeout = None if deadline == math.inf else max(0.0, deadline - time.monotonic())
        waits = {
            asyncio.ensure_future(self.feed.wait_for(Seq(progress.cursor + 1))),
            asyncio.ensure_future(self._dirty.wait()),
        }
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        return await self.source.now_after(progress.cursor)

    async def _send(self, client: aiomqtt.Client, plan: Iterable[Publication]) -> int:
        """Publish, in order, and wait until the broker acknowledged every one; how many.
        A window at a time: the client's bookkeeping costs O(pending) per call, so
        thousands at once would hold the event loop; and the payloads of a large plan are
        made while the first are on their way. Tasks start in the order they are made,
        each calling publish at once: the order holds."""
        sent: list[Publication] = []
        window: set[asyncio.Future[None]] = set()
        try:
            for p in plan:
                if len(window) >= WINDOW:
                    window = await _settle(window, asyncio.FIRST_COMPLETED)
                publishing = client.publish(
                    p.topic, p.payload, qos=wire.QOS, retain=p.retain, timeout=math.inf
                )
                window.add(asyncio.ensure_future(publishing))
                sent.append(p)
            await _settle(window, asyncio.ALL_COMPLETED)
        finally:
            for task in window:
                task.cancel()
            await asyncio.gather(*window, return_exceptions=True)
        self.mirror.published(sent)
        self.published += len(sent)
        return len(sent)

    async def _flush(self, holding: Holding, progress: _Progress) -> None:
        cursor = progress.cursor
        if not await holding.store.move_cursors({CURSOR: cursor}, holding.lease, holding.holder):
            raise LostLeaseError
        progress.flushed(cursor)


class _Progress:
    """The events published, and when the cursor was last recorded."""

    def __init__(self, cursor: Seq) -> None:
        self.cursor = cursor
        self.recorded = cursor
        self._since = time.monotonic()

    @property
    def pending(self) -> bool:
        return self.cursor > self.recorded

    def moved(self, cursor: Seq) -> None:
        if not self.pending:
            self._since = time.monotonic()
        self.cursor = cursor

    @property
    def due_at(self) -> float:
        """When the cursor must be recorded (monotonic time; inf: nothing to record)."""
        return self._since + FLUSH_SECONDS if self.pending else math.inf

    def due(self) -> bool:
        return time.monotonic() >= self.due_at

    def flushed(self, cursor: Seq) -> None:
        self.recorded = cursor


async def _first_failure(*tasks: asyncio.Task[None]) -> None:
    """Run the tasks until one ends (they run until failure); cancel the others and
    raise what ended it."""
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    for task in done:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
    raise aiomqtt.MqttError("the connection ended")


async def _settle(window: set[asyncio.Future[None]], when: str) -> set[asyncio.Future[None]]:
    """Wait for some (or all) publications of the window; raise the first failure, or
    MqttError when the broker acknowledges nothing for PUBLISH_SECONDS; the ones still
    pending."""
    pending = window
    while pending:
        done, pending = await asyncio.wait(pending, timeout=PUBLISH_SECONDS, return_when=when)
        if not done:
            raise aiomqtt.MqttError(f"the broker acknowledged nothing for {PUBLISH_SECONDS} s")
        for task in done:
            task.result()
        if when == asyncio.FIRST_COMPLETED:
            break
    return pending


def _tls_context(ca_file: str) -> ssl.SSLContext:
    """TLS for mqtts://: the broker's certificate checked against the system's
    authorities, or those of --mqtt-ca."""
    return ssl.create_default_context(cafile=ca_file or None)
