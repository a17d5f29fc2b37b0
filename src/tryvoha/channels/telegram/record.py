"""Cursors moved after Telegram's answer, many at once: one commit for every answer that
came within FLUSH_SECONDS, fenced by the lease.

On SQLite a commit takes the log's write lock and an fsync; at 30 messages a second, one
commit per message would be 30 commits a second in the way of declares. So answers are
noted here and committed together, at most FLUSH_SECONDS after the first of them. A
sender that must not send again before its last message is recorded (the next message to
the same chat) awaits `durable()`. What a kill -9 can lose is therefore only what was
noted and not yet committed, and each chat has at most one such message at a time: the
one in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from tryvoha.channels.lease import Holding
from tryvoha.domain.events import Seq

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.1
RETRY_SECONDS = 1.0  # after the store failed to commit


class LeaseLostError(Exception):
    """Another process holds the lease now: this one must stop sending at once."""


class Recorder:
    def __init__(self, holding: Holding, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.holding = holding
        self.flush_seconds = flush_seconds
        self._pending: dict[str, Seq] = {}
        self._noted = 0  # notes taken so far
        self._flushed = 0  # notes committed so far
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._lost = False
        self.commits = 0

    def note(self, name: str, seq: Seq) -> None:
        """Cursor `name` may move to `seq` (Telegram has answered): committed soon."""
        if self._lost:
            raise LeaseLostError(self.holding.lease)
        if seq > self._pending.get(name, -1):
            self._pending[name] = seq
        self._noted += 1
        self._wake.set()

    async def durable(self) -> None:
        """Until every note taken so far is committed."""
        if self._lost:
            raise LeaseLostError(self.holding.lease)
        if self._flushed >= self._noted:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((self._noted, future))
        await future

    async def run(self) -> None:
        """Commit what was noted, every FLUSH_SECONDS while there is something."""
        try:
            while True:
                await self._wake.wait()
                await asyncio.sleep(self.flush_seconds)  # the answers coming meanwhile join
                self._wake.clear()
                await self._flush()
        finally:
            self._fail_waiters()

    async def _flush(self) -> None:
        moves, self._pending = self._pending, {}
        upto = self._noted
        while moves:
            try:
                held = await self.holding.store.move_cursors(
                    moves, self.holding.lease, self.holding.holder
                )
            except Exception:
                log.exception("could not record Telegram's progress; trying again")
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if not held:
                self._lost = True
                raise LeaseLostError(self.holding.lease)
            self.commits += 1
            break
        self._flushed = upto
        waiting, self._waiters = self._waiters, []
        for wanted, future in waiting:
            if wanted <= upto:
                if not future.done():
                    future.set_result(None)
            else:
                self._waiters.append((wanted, future))

    def _fail_waiters(self) -> None:
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(LeaseLostError(self.holding.lease))
        self._waiters = []

    async def close(self) -> None:
        """Commit what is noted (a graceful stop loses nothing it was told)."""
        if not self._lost and self._pending:
            with contextlib.suppress(LeaseLostError):
                await self._flush()
