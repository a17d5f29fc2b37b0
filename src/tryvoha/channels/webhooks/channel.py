"""The webhooks channel as every writing process runs it.

While the store holds no subscription nothing runs but a look at the count every
WATCH_SECONDS (a read). Once there is one, the process runs a lease keeper: the one
process that holds the `webhooks` lease (on one box with --workers N, or across writers
on many machines) runs the courier, in a process of its own (process.py); the others
wait to take over if it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from tryvoha.channels.lease import Holding, LeaseKeeper
from tryvoha.channels.webhooks.process import run_courier_process
from tryvoha.channels.webhooks.window import EventWindow
from tryvoha.config import Settings
from tryvoha.domain.regions import RegionTree
from tryvoha.engine.feed import Feed
from tryvoha.store.base import Store

log = logging.getLogger(__name__)

LEASE = "webhooks"
WATCH_SECONDS = 1.0


class WebhookChannel:
    def __init__(self, settings: Settings, store: Store, feed: Feed, tree: RegionTree) -> None:
        self.settings = settings
        self.store = store
        self.tree = tree
        self.window = EventWindow(feed, store, tree)  # for the admin API's counts
        self.keeper: LeaseKeeper | None = None
        self._poked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._stop_keeper()

    def poke(self) -> None:
        """A subscription changed through this process: look at once whether there is
        any (the courier looks at what changed every second, wherever it runs)."""
        self._poked.set()

    async def _watch(self) -> None:
        while True:
            try:
                count: int | None = await self.store.count_webhooks()
            except Exception:
                log.exception("webhooks: could not count the subscriptions")
                count = None
            if count and self.keeper is None:
                lease = self.settings.webhook_lease_seconds
                self.keeper = LeaseKeeper(
                    self.store,
                    LEASE,
                    self._deliver,
                    lease_seconds=lease,
                    renew_seconds=lease / 3,
                    retry_seconds=min(2.0, lease / 3),
                )
                self.keeper.start()
            elif count == 0:
                await self._stop_keeper()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WATCH_SECONDS):
                    await self._poked.wait()
            self._poked.clear()

    async def _stop_keeper(self) -> None:
        if self.keeper is not None:
            keeper, self.keeper = self.keeper, None
            await keeper.stop()

    async def _deliver(self, holding: Holding) -> None:
        await run_courier_process(self.settings, holding)
