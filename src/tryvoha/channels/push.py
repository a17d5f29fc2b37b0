"""Web Push: notifications that reach a browser whose tab is closed.

A browser subscribes with its push service's endpoint and keys and the regions it
follows (`server/api_push.py`); the subscription is kept in the store. The process that
holds the lease `push` (one at a time, on one box or many: `lease.py`) reads the log
after the channel's cursor (`source.py`), finds for each batch of events the
subscriptions that follow a region the events concern (the region, one above it or one
below it: the rule a stream's `region=` filter uses), and gives each its notice
(`web/notice.py`, in the subscription's language), encrypted to its keys, through its
push service (`push_send.py`).

Every subscription gets every event that concerns it once, in seq order (`push_lanes.py`
keeps the order and the cursors). A push service that answers 404 or 410 has forgotten
the browser: the subscription is removed. 429, 5xx or no answer: the same notice is
tried again, backing off (1 s doubling to a minute, or as Retry-After says), for up to
`push_retry_seconds`, then given up; the lane's later notices wait behind it, every other
lane goes on. Historical events (an imported record) are never pushed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache

from tryvoha.channels.lease import Holding, LeaseKeeper
from tryvoha.channels.push_lanes import CHANNEL_CURSOR, PREFIX, Lanes, Notice, cursor_name
from tryvoha.channels.push_send import Outcome, PushSender, Result, VapidKeys, load_keys
from tryvoha.channels.source import EventSource, Item
from tryvoha.config import Settings
from tryvoha.domain.events import Event, Seq, is_historical
from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.engine.feed import Feed
from tryvoha.store.base import Store
from tryvoha.web.notice import notice

log = logging.getLogger(__name__)

LEASE = "push"
READ_EVENTS = 256  # events read at a time
MAX_QUEUED = 200_000  # notices waiting in every lane together: reading waits above this
FLUSH_SECONDS = 0.2  # cursors are recorded at most this often (one commit for many sends)
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
YIELD_EVERY = 2_000  # subscriptions matched between turns of the event loop


class LeaseLostError(Exception):
    """Another process holds the lease now: this one stops delivering."""


def subscription_id(endpoint: str) -> str:
    """A subscription's id, from its endpoint: one subscription per browser."""
    digest = hashlib.sha256(endpoint.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def backoff(tries: int, retry_after: float | None, jitter: float | None = None) -> float:
    """Seconds before try number `tries + 1`: doubling from 1 s to a minute, with jitter,
    and never sooner than the push service asked."""
    base = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2.0 ** min(max(tries - 1, 0), 16))
    spread: float = random.random() if jitter is None else jitter
    return max(base * (0.5 + spread / 2), retry_after or 0.0)


def contact_of(settings: Settings) -> str:
    """The VAPID `sub` claim: who push services may contact about our messages."""
    if settings.push_contact:
        return settings.push_contact
    if settings.public_url.startswith("https://"):
        return settings.public_url
    return "mailto:tryvoha@localhost"


class PushDelivery:
    """The delivery a lease holder runs until cancelled (or until it loses the lease)."""

    def __init__(
        self,
        source: EventSource,
        store: Store,
        tree: RegionTree,
        sender: PushSender,
        *,
        epoch: str,
        clock: Callable[[], datetime],
        retry_seconds: float,
        concurrency: int,
    ) -> None:
        self.source = source
        self.store = store
        self.tree = tree
        self.sender = sender
        self.epoch = epoch
        self.clock = clock
        self.retry_seconds = retry_seconds
        self.concurrency = concurrency
        self.counts: Counter[str] = Counter()  # outcomes, for tests and the bench
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._timers: set[asyncio.TimerHandle] = set()
        self.lanes: Lanes | None = None

    async def run(self, holding: Holding) -> None:
        lanes = self.lanes = await self._start(holding)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._read(lanes))
                group.create_task(self._flush(holding, lanes))
                for _ in range(self.concurrency):
                    group.create_task(self._work(lanes))
        finally:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            with contextlib.suppress(Exception):  # what was sent is recorded (fenced)
                await self._record(holding, lanes)

    async def _start(self, holding: Holding) -> Lanes:
        cursors = await self.store.read_cursors(CHANNEL_CURSOR)
        start = cursors.pop(CHANNEL_CURSOR, None)
        if start is None:  # the first delivery ever: from now on
            start = Seq(self.source.feed.announced)
            if not await self.store.move_cursors(
                {CHANNEL_CURSOR: start}, holding.lease, holding.holder
            ):
                raise LeaseLostError(holding.lease)
        positions = {n[len(PREFIX) :]: s for n, s in cursors.items() if n.startswith(PREFIX)}
        log.info("web push: delivering after seq %s", start)
        return Lanes(start, positions)

    # -- reading: events to notices in lanes ---------------------------------------

    async def _read(self, lanes: Lanes) -> None:
        while True:
            while lanes.queued >= MAX_QUEUED:
                self._room.clear()
                await self._room.wait()
            batch = await self.source.after(lanes.read, READ_EVENTS)
            await self._fan_out(lanes, batch)

    async def _fan_out(self, lanes: Lanes, batch: Sequence[Item]) -> None:
        events = [event for event, _ in batch if not is_historical(event.issuer)]
        if events:
            regions: set[RegionId] = set()
            for event in events:
                regions |= self.tree.lineage(event.alert.region_id)
            subs = await self.store.push_subscriptions_for(sorted(regions))
            now = self.clock()
            made: dict[tuple[int, str], bytes] = {}
            bits = [(self.tree.bit(e.alert.region_id), e) for e in events]
            for n, sub in enumerate(subs):
                mask = self._mask(sub.regions)
                for bit, event in bits:
                    if mask & bit and lanes.wants(sub, event.seq):
                        body = made.get((event.seq, sub.lang))
                        if body is None:
                            body = made[(event.seq, sub.lang)] = self._notice(event, sub.lang, now)
                        lanes.add(sub, Notice(event.seq, body, _urgent(event)))
                if n % YIELD_EVERY == YIELD_EVERY - 1:
                    self._ready.set()
                    await asyncio.sleep(0)  # a nationwide batch does not hold the loop
        lanes.read_upto(batch[-1][0].seq)
        self._ready.set()

    def _notice(self, event: Event, lang: str, now: datetime) -> bytes:
        return notice(event, lang, self.tree, self.epoch, now)

    def _mask(self, regions: tuple[RegionId, ...]) -> int:
        return _related_mask(self.tree, regions)

    # -- sending ---------------------------------------------------------------------

    async def _work(self, lanes: Lanes) -> None:
        while True:
            taken = lanes.take()
            if taken is None:
                self._ready.clear()
                await self._ready.wait()
                continue
            sub, item = taken
            item.tries += 1
            if item.first_try is None:
                item.first_try = time.monotonic()
            try:
                result = await self.sender.send(sub, item.body, item.urgent)
            except Exception as e:  # a bad key, a bug: this notice only, never the channel
                log.exception("web push to %s failed", sub.id)
                result = Result(Outcome.FAILED, reason=str(e))
            self.counts[result.outcome.value] += 1
            await self._settle(lanes, sub.id, item, result)
            if lanes.queued < MAX_QUEUED // 2:
                self._room.set()

    async def _settle(self, lanes: Lanes, sub_id: str, item: Notice, result: Result) -> None:
        if result.outcome is Outcome.SENT:
            lanes.done(sub_id)
        elif result.outcome is Outcome.FAILED:
            log.warning("web push to %s refused event %s: %s", sub_id, item.seq, result.reason)
            lanes.done(sub_id)
        elif result.outcome is Outcome.GONE:
            log.info("web push subscription %s removed: %s", sub_id, result.reason)
            lanes.forget(sub_id)
            await self.store.drop_push_subscription(sub_id)
            await self.store.drop_cursors([cursor_name(sub_id)])
        else:
            delay = backoff(item.tries, result.retry_after)
            assert item.first_try is not None
            if time.monotonic() + delay - item.first_try > self.retry_seconds:
                log.warning(
                    "web push to %s: event %s given up after %s tries (%s)",
                    sub_id,
                    item.seq,
                    item.tries,
                    result.reason or result.status,
                )
                self.counts["given_up"] += 1
                lanes.done(sub_id)
            else:
                self._later(delay, lanes, sub_id)
                return
        self._ready.set()

    def _later(self, delay: float, lanes: Lanes, sub_id: str) -> None:
        def again() -> None:
            self._timers.discard(timer)
            lanes.again(sub_id)
            self._ready.set()

        timer = asyncio.get_running_loop().call_later(delay, again)
        self._timers.add(timer)

    # -- recording ---------------------------------------------------------------------

    async def _flush(self, holding: Holding, lanes: Lanes) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self._record(holding, lanes)

    async def _record(self, holding: Holding, lanes: Lanes) -> None:
        moves = lanes.moves()
        if not moves:
            return
        if not await holding.store.move_cursors(moves, holding.lease, holding.holder):
            raise LeaseLostError(holding.lease)
        lanes.recorded_upto(moves)


def _urgent(event: Event) -> bool:
    return event.type.value != "alert.cleared" and event.alert.level.value == "red"


@lru_cache(maxsize=16_384)
def _related_mask(tree: RegionTree, regions: tuple[RegionId, ...]) -> int:
    return tree.related_mask(r for r in regions if r in tree)


class PushChannel:
    """Web Push in a serving process: the keys (for the pages and the API) and, in every
    process whose role writes, a lease keeper, so that one of them delivers. An edge
    (`deliver=False`) only reads the keys (a writer made them; should an edge start before
    any writer ever did, it makes them the same way: the first process wins) and delivers
    nothing."""

    def __init__(
        self,
        keys: VapidKeys,
        sender: PushSender,
        keeper: LeaseKeeper | None,
        delivery: PushDelivery,
    ) -> None:
        self.keys = keys
        self.sender = sender
        self.keeper = keeper
        self.delivery = delivery

    @classmethod
    async def start(
        cls,
        settings: Settings,
        store: Store,
        tree: RegionTree,
        feed: Feed,
        clock: Callable[[], datetime],
        *,
        deliver: bool = True,
    ) -> PushChannel:
        keys = await load_keys(store)
        sender = PushSender(
            keys,
            contact_of(settings),
            ttl_seconds=settings.push_ttl_seconds,
            allow_private=settings.push_allow_private,
            connections=settings.push_concurrency,
        )
        delivery = PushDelivery(
            EventSource(feed, store),
            store,
            tree,
            sender,
            epoch=store.epoch,
            clock=clock,
            retry_seconds=settings.push_retry_seconds,
            concurrency=settings.push_concurrency,
        )
        keeper = None
        if deliver:
            keeper = LeaseKeeper(store, LEASE, delivery.run)
            keeper.start()
        return cls(keys, sender, keeper, delivery)

    async def stop(self) -> None:
        if self.keeper is not None:
            await self.keeper.stop()
        await self.sender.close()
