"""The single-process bus: this process makes every write itself, so the bus only has to
notice writes made beside it on the same store (an import, another tryvoha process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from tryvoha.bus.base import BusState, Receiver
from tryvoha.domain.events import Seq
from tryvoha.store.base import Committed

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0


class LocalBus:
    def __init__(self, poll_seconds: float = POLL_SECONDS) -> None:
        self.poll_seconds = poll_seconds
        self._task: asyncio.Task[None] | None = None
        self._receiver: Receiver | None = None

    async def start(self, receiver: Receiver) -> None:
        self._receiver = receiver
        self._task = asyncio.get_running_loop().create_task(self._poll(receiver))

    async def _poll(self, receiver: Receiver) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await receiver.catch_up()
            except Exception:
                log.exception("could not read new events from the store")

    async def published(self, committed: Sequence[Committed]) -> None:
        return None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def state(self) -> BusState:
        seq = self._receiver.seq if self._receiver is not None else Seq(0)
        return BusState(kind="local", connected=True, caught_up=True, heard=seq)
