"""One process delivers a channel at a time: the one that holds its lease in the store.

Every serving process runs a keeper per channel. The keeper takes the lease (or waits
for it to run out), runs the channel's delivery while it holds it, renews it well before
it runs out, and stops the delivery the moment a renewal fails. Whatever the delivery
records (its cursors) is fenced by the same lease in the store, so a process that lost
the lease without knowing it (paused, cut off) cannot record anything after another took
over: at worst one event is delivered twice, which every channel's receiver can tell
(a webhook's id, an MQTT seq).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from tryvoha.store.base import Channels

log = logging.getLogger(__name__)

LEASE_SECONDS = 15.0  # how long a lease lasts without renewal
RENEW_SECONDS = 5.0  # renewed this often (a third of the lease: two renewals may fail)
RETRY_SECONDS = 2.0  # a process without the lease asks again this often


def holder_name() -> str:
    """Who holds a lease: this machine and process, and a random part (a restarted
    process with the same pid is another holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class Holding:
    """What a delivery needs to record its progress: the lease it is fenced by."""

    store: Channels
    lease: str
    holder: str


Delivery = Callable[[Holding], Coroutine[Any, Any, None]]


class LeaseKeeper:
    def __init__(
        self,
        store: Channels,
        lease: str,
        deliver: Delivery,
        holder: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        renew_seconds: float = RENEW_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.store = store
        self.lease = lease
        self.deliver = deliver
        self.holder = holder or holder_name()
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.retry_seconds = retry_seconds
        self.holding = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._keep())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # Always: the cancelled keeper has already marked itself as not holding, and a
        # lease left to run out keeps the next process waiting for LEASE_SECONDS.
        with contextlib.suppress(Exception):
            await self.store.drop_lease(self.lease, self.holder)
        self.holding = False

    async def _take(self) -> bool:
        try:
            return await self.store.take_lease(self.lease, self.holder, self.lease_seconds)
        except Exception:
            log.exception("could not take or renew the lease '%s'", self.lease)
            return False

    async def _keep(self) -> None:
        while True:
            if not await self._take():
                await asyncio.sleep(self.retry_seconds)
                continue
            self.holding = True
            log.info("delivering '%s' (holder %s)", self.lease, self.holder)
            work = asyncio.get_running_loop().create_task(
                self.deliver(Holding(self.store, self.lease, self.holder))
            )
            try:
                while not work.done():
                    done, _ = await asyncio.wait({work}, timeout=self.renew_seconds)
                    if not done and not await self._take():
                        log.warning("lost the lease '%s'; stopping its delivery", self.lease)
                        break
            finally:
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await work
                self.holding = False
            if work.done() and not work.cancelled() and work.exception() is not None:
                log.error("delivery of '%s' failed", self.lease, exc_info=work.exception())
            await asyncio.sleep(self.retry_seconds)
