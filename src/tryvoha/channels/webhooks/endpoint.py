"""One endpoint as the delivering process holds it: its subscription, how far it has got
in memory and how far that is recorded, what it has not yet recorded (bounded), and the
task that delivers to it (one at a time, in seq order).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from standardwebhooks.webhooks import Webhook

from tryvoha.channels.webhooks.targets import Target, TargetError, parse_target
from tryvoha.domain.events import Seq
from tryvoha.domain.regions import RegionTree
from tryvoha.domain.webhooks import (
    Attempt,
    EventFilter,
    WebhookRecord,
    WebhookState,
    event_filter,
)
from tryvoha.store.webhooks import WebhookProgress

SKIPS_RECORDED_SECONDS = 10.0  # a cursor moved only past events not for it waits this long


@dataclass(eq=False, slots=True)
class Endpoint:
    record: WebhookRecord
    filter: EventFilter
    signer: Webhook
    target: Target | None  # None: the stored URL is no longer acceptable (attempts fail)
    position: Seq  # every event up to here is done with, in memory
    recorded: Seq  # ... and in the store
    last_n: int  # the number of its newest attempt
    kept: int  # attempts remembered
    attempts: deque[Attempt] = field(init=False)
    pruned_to: int = 0  # attempts up to this number are forgotten in the store
    failing: bool = False  # its last attempt failed: it waits in the failing lane
    delivered: tuple[Seq, datetime] | None = None
    error: tuple[str, datetime] | None = None
    state: WebhookState | None = None  # a change decided here, not yet recorded
    moved_at: float = 0.0  # when `position` first moved past `recorded` by skipping only
    must_record: bool = False  # something was delivered since the cursor was recorded
    task: asyncio.Task[None] | None = None
    client: httpx.AsyncClient | None = None  # its own, with at most one connection

    def __post_init__(self) -> None:
        self.attempts = deque(maxlen=self.kept)

    @classmethod
    def of(cls, record: WebhookRecord, tree: RegionTree, last_n: int, kept: int) -> Endpoint:
        try:
            target: Target | None = parse_target(record.url)
        except TargetError:
            target = None
        return cls(
            record=record,
            filter=event_filter(tree, record.regions, record.threats),
            signer=Webhook(record.secret),
            target=target,
            position=record.cursor,
            recorded=record.cursor,
            last_n=last_n,
            kept=kept,
            pruned_to=max(0, last_n - kept),
        )

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            self.task = None

    def attempted(self, attempt: Attempt) -> None:
        self.last_n = attempt.n
        self.attempts.append(attempt)
        if attempt.error is not None:
            self.error = (attempt.error, attempt.at)

    def skipped(self, seq: Seq, now: float) -> None:
        if self.position == self.recorded:
            self.moved_at = now
        self.position = seq

    def acknowledged(self, seq: Seq, at: datetime) -> None:
        self.position = seq
        self.delivered = (seq, at)
        self.must_record = True

    def take(self, progress: WebhookProgress, now: float) -> None:
        """Move what is to be recorded into `progress` (given back by `give_back` if the
        store could not take it)."""
        moved = self.position > self.recorded
        if moved and (self.must_record or now - self.moved_at >= SKIPS_RECORDED_SECONDS):
            progress.cursors[self.id] = self.position
        progress.attempts.extend((self.id, a) for a in self.attempts)
        self.attempts.clear()
        if self.last_n - self.pruned_to >= 2 * self.kept:
            progress.prune[self.id] = self.last_n - self.kept
        if self.delivered is not None:
            progress.delivered[self.id] = self.delivered
            self.delivered = None
        if self.error is not None:
            progress.errors[self.id] = self.error
            self.error = None
        if self.state is not None:
            progress.states[self.id] = (self.state, self.record.version)
            self.state = None

    def recorded_as(self, progress: WebhookProgress) -> None:
        """The store took `progress`."""
        seq = progress.cursors.get(self.id)
        if seq is not None:
            self.recorded = seq
            self.must_record = self.must_record and self.position > seq
        if self.id in progress.prune:
            self.pruned_to = progress.prune[self.id]

    def give_back(self, progress: WebhookProgress) -> None:
        """The store failed: keep what `take` took for the next time (newer news wins)."""
        mine = [a for hook, a in progress.attempts if hook == self.id]
        room = self.kept - len(self.attempts)
        if mine and room > 0:
            self.attempts.extendleft(reversed(mine[-room:]))
        if self.delivered is None:
            self.delivered = progress.delivered.get(self.id)
        if self.error is None:
            self.error = progress.errors.get(self.id)
        if self.state is None and self.id in progress.states:
            self.state = progress.states[self.id][0]
