"""Writes: authorise, decide, commit durably, then answer. And the projection's lifecycle."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import orjson
from tenacity import AsyncRetrying, RetryCallState, wait_fixed

from tryvoha.domain.alerts import AlertId
from tryvoha.domain.commands import (
    ClearAlert,
    Command,
    Declare,
    Update,
    decide,
    ensure_not_active,
    touched_regions,
)
from tryvoha.domain.errors import (
    DomainError,
    OutOfScopeError,
    ReadOnlyTokenError,
    UnknownAlertError,
)
from tryvoha.domain.events import Event, Seq
from tryvoha.domain.projection import Projection
from tryvoha.domain.regions import RegionTree
from tryvoha.domain.scope import Principal, check_may_write, check_scope
from tryvoha.engine.auth import AuthError
from tryvoha.engine.clock import Clock, new_alert_id, system_clock
from tryvoha.engine.feed import RECENT_EVENTS, Feed, FeedGapError
from tryvoha.protocol.wire import alert_from_json, alert_to_json, decode_event
from tryvoha.store.base import (
    AuditEntry,
    Committed,
    IdempotencyRecord,
    Store,
    WriteTransaction,
)

log = logging.getLogger(__name__)

SNAPSHOT_EVERY = 10_000  # events between projection snapshots
REPLAY_BATCH = 10_000


class IdempotencyKeyReusedError(DomainError):
    code = "idempotency_key_reused"


@dataclass(frozen=True, slots=True)
class WriteResult:
    status: int
    body: bytes  # JSON: {"seq": N, "alerts": [...]}
    seq: Seq
    replayed: bool = False  # the stored answer to an earlier request with the same key
    committed: tuple[Committed, ...] = ()


@dataclass(frozen=True, slots=True)
class _Plan:
    """A write's events, its idempotency record and audit entry, and its answer."""

    events: list[Event]
    remember: IdempotencyRecord | None
    audit: list[AuditEntry]
    answer: WriteResult

    def result(self, committed: list[Committed]) -> WriteResult:
        a = self.answer
        return WriteResult(a.status, a.body, a.seq, committed=tuple(committed))


class Engine:
    def __init__(
        self,
        store: Store,
        tree: RegionTree,
        feed: Feed,
        *,
        clock: Clock = system_clock,
        new_id: Callable[[], AlertId] = new_alert_id,
        snapshot_every: int = SNAPSHOT_EVERY,
        snapshots: bool = True,
    ) -> None:
        self.store = store
        self.tree = tree
        self.feed = feed
        self.clock = clock
        self.new_id = new_id
        self.snapshot_every = snapshot_every
        self.snapshots = snapshots  # False on an edge: it only reads the store
        self.after_commit: list[Callable[[list[Committed]], Awaitable[None]]] = []
        self._lock = asyncio.Lock()
        self._snapshot_seq = feed.seq
        self._snapshot_task: asyncio.Task[None] | None = None
        self._catch_up_task: asyncio.Task[None] | None = None
        self._gap = False

    @property
    def projection(self) -> Projection:
        return self.feed.projection

    @classmethod
    async def load(cls, store: Store, tree: RegionTree, **kwargs: object) -> Engine:
        """Rebuild the projection: the latest snapshot, then the log after it. A long
        replay is saved as a snapshot at once, so the next start is quick."""
        replayed: deque[tuple[Event, bytes]] = deque(maxlen=RECENT_EVENTS)
        count = 0

        def keep(item: tuple[Event, bytes]) -> None:
            nonlocal count
            count += 1
            replayed.append(item)

        projection = await load_projection(store, keep=keep)
        feed = Feed(projection)
        # Memory holds the newest events; those the snapshot spared the replay are read.
        first = replayed[0][0].seq if replayed else projection.seq + 1
        after = Seq(max(0, projection.seq - RECENT_EVENTS))
        while after < first - 1:
            raws = await store.read_events(after, min(REPLAY_BATCH, first - 1 - after))
            for raw in raws:
                event = decode_event(raw)
                if event.seq < first:
                    feed.remember(event, raw)
                after = event.seq
            if not raws:
                break
        for event, raw in replayed:
            feed.remember(event, raw)
        engine = cls(store, tree, feed, **kwargs)  # type: ignore[arg-type]
        engine._snapshot_seq = projection.seq
        if count >= engine.snapshot_every:  # a long replay: the next start need not repeat it
            await engine.save_snapshot()
        return engine

    # -- the bus delivers here (tryvoha.bus.base.Receiver) -------------------

    @property
    def seq(self) -> Seq:
        return self.feed.seq

    def deliver(self, raws: Sequence[bytes]) -> None:
        try:
            self.feed.ingest_raw(raws)
        except FeedGapError:
            self._gap = True
            if self._catch_up_task is None or self._catch_up_task.done():
                self._catch_up_task = asyncio.get_running_loop().create_task(self._fill_gaps())

    async def _fill_gaps(self) -> None:
        def failed(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            log.error("could not read missed events from the store; retrying", exc_info=error)

        while self._gap:  # a gap seen while catching up is read again
            self._gap = False
            async for attempt in AsyncRetrying(wait=wait_fixed(1.0), before_sleep=failed):
                with attempt:
                    await self.catch_up()

    async def catch_up(self) -> int:
        """Take in events other processes committed; how many were new."""
        fresh = 0
        while True:
            raws = await self.store.read_events(self.feed.seq, REPLAY_BATCH)
            fresh += self.feed.ingest_raw(raws)
            if len(raws) < REPLAY_BATCH:
                break
        if fresh:
            self._maybe_snapshot()
        return fresh

    async def execute(
        self,
        command: Command,
        principal: Principal,
        *,
        idempotency_key: str | None = None,
        fingerprint: str = "",
    ) -> WriteResult:
        """Carry out one write. Answers only after the events are durably committed."""
        try:
            check_may_write(principal)
        except ReadOnlyTokenError as e:
            await self.store.audit(
                [AuditEntry(self.clock(), principal.name, _action(command), "denied", e.detail)]
            )
            raise
        for region_id in touched_regions(command, self.projection):
            self.tree.get(region_id)  # unknown regions fail before the scope check names them
        try:
            async with self._lock:
                result, committed = await self._write(
                    command, principal, idempotency_key, fingerprint
                )
                if committed:
                    await self._announce(committed)
        except UnknownAlertError:
            await self._explain_unknown(command)
            raise
        except OutOfScopeError as e:
            entry = AuditEntry(self.clock(), principal.name, _action(command), "denied", e.detail)
            await self.store.audit([entry])
            raise
        if committed:
            self._maybe_snapshot()
        return result

    async def _write(
        self, command: Command, principal: Principal, key: str | None, fingerprint: str
    ) -> tuple[WriteResult, list[Committed]]:
        """Under the engine's lock: the store's write lock, decide, commit (or not)."""
        tx = await self.store.begin_write(self.feed.seq, principal.name, key)
        try:
            self.feed.ingest_raw(tx.tail)
            plan = self._plan(tx, command, principal, key, fingerprint)
            if isinstance(plan, IdempotencyRecord):
                prior = plan
            elif isinstance(plan, WriteResult):
                return plan, []
            elif tx.blocks_loop:  # SQLite: the loop waits for the fsync (see store.sqlite_log)
                committed = tx.commit_blocking(plan.events, plan.remember, plan.audit)
            else:
                committed = await tx.commit(plan.events, plan.remember, plan.audit)
        finally:  # nothing to undo once committed
            if tx.blocks_loop:
                tx.rollback_blocking()
            else:
                await tx.rollback()
        if isinstance(plan, IdempotencyRecord):
            return await self._replay(prior), []
        return plan.result(committed), committed

    def _plan(
        self,
        tx: WriteTransaction,
        command: Command,
        principal: Principal,
        key: str | None,
        fingerprint: str,
    ) -> _Plan | WriteResult | IdempotencyRecord:
        """What to commit, decided on the state the write lock shows; the answer when there
        is nothing to commit; or the key's record, when its answer is to be given again."""
        if not tx.principal_active:
            raise AuthError(f"the token '{principal.name}' was revoked")
        prior = tx.prior_answer
        if prior is not None:
            if prior.fingerprint != fingerprint:
                raise IdempotencyKeyReusedError(
                    f"Idempotency-Key '{prior.key}' was first used for a different request; "
                    "use a new key for a new request"
                )
            return prior
        check_scope(self.tree, principal, touched_regions(command, self.projection))
        now = self.clock()
        decision = decide(
            command, self.projection, self.tree, now=now, issuer=principal.name, new_id=self.new_id
        )
        events = [
            Event.committed(Seq(self.feed.seq + i), pending)
            for i, pending in enumerate(decision.events, start=1)
        ]
        seq = events[-1].seq if events else self.feed.seq
        status = 201 if isinstance(command, Declare) and events else 200
        body = orjson.dumps({"seq": seq, "alerts": [alert_to_json(a) for a in decision.alerts]})
        remember = None
        if key is not None:
            # bound to the key even when nothing is written: a retry after the state
            # changed must get this answer, not do something new. What is kept is what
            # makes the answer again (its seq and alerts' ids; each alert as it was at that
            # seq is in the log), not the answer: a no-op nationwide declare's answer is
            # tens of KB, its record a few hundred bytes.
            ids = [a.id for a in decision.alerts]
            kept = orjson.dumps({"seq": seq, "alert_ids": ids})
            remember = IdempotencyRecord(principal.name, key, fingerprint, status, kept)
        if not events and remember is None:
            return WriteResult(status, body, seq)
        audit = []
        if events:
            regions = ",".join(a.region_id for a in decision.alerts[:30])
            detail = f"seq {events[0].seq}-{seq}: {regions}"
            audit.append(AuditEntry(now, principal.name, _action(command), "ok", detail))
        return _Plan(events, remember, audit, WriteResult(status, body, seq))

    async def _announce(self, committed: list[Committed]) -> None:
        """Other processes first (the bus only writes to a socket), then this process's
        own subscribers: their fan-outs then run side by side."""
        for hook in self.after_commit:
            try:
                await hook(committed)
            except Exception:  # the write is committed: its answer stands
                log.exception(
                    "after-commit hook %r failed at seq %s", hook, committed[-1].event.seq
                )
        self.feed.ingest([(c.event, c.raw) for c in committed])

    async def _replay(self, prior: IdempotencyRecord) -> WriteResult:
        """The answer first given with this key, made again from the log: each alert as it
        was at the answer's seq (its last event up to then). A record from before answers
        were kept this way holds the answer itself."""
        kept = orjson.loads(prior.body)
        seq = Seq(kept["seq"])
        if "alert_ids" not in kept:
            return WriteResult(prior.status, prior.body, seq, replayed=True)
        ids: list[str] = kept["alert_ids"]
        as_then: dict[str, object] = {}
        for raw in await self.store.events_of_alerts(ids):
            event = orjson.loads(raw)
            if event["seq"] <= seq:
                as_then[event["alert"]["id"]] = event["alert"]
        body = orjson.dumps({"seq": seq, "alerts": [as_then[i] for i in ids]})
        return WriteResult(prior.status, body, seq, replayed=True)

    async def _explain_unknown(self, command: Command) -> None:
        if isinstance(command, ClearAlert | Update):
            known = await self.store.get_alert(command.alert_id)
            if known is not None:
                ensure_not_active(known)

    # -- snapshots ------------------------------------------------------------

    def _maybe_snapshot(self) -> None:
        if not self.snapshots:
            return
        if self.feed.seq - self._snapshot_seq < self.snapshot_every:
            return
        if self._snapshot_task is not None and not self._snapshot_task.done():
            return
        self._snapshot_task = asyncio.get_running_loop().create_task(self.save_snapshot())

    async def save_snapshot(self) -> None:
        """Save the projection (under the write lock: the writer connection is not shared
        with a write transaction in progress)."""
        if not self.snapshots:
            return
        async with self._lock:
            projection = self.projection
            seq = projection.seq
            payload = orjson.dumps(
                {"seq": seq, "active": [alert_to_json(a) for a in projection.active()]}
            )
            try:
                await self.store.save_snapshot(seq, payload)
            except Exception:  # a snapshot is only a cache; the log is the truth
                log.exception("could not save the projection snapshot at seq %s", seq)
            else:
                self._snapshot_seq = seq


async def load_projection(
    store: Store, keep: Callable[[tuple[Event, bytes]], None] | None = None
) -> Projection:
    """The latest snapshot that is not ahead of the log, then every event after it (each
    also given to `keep`, with its bytes, when asked)."""
    last = await store.last_seq()
    projection = Projection()
    snapshot = await store.load_snapshot()
    if snapshot is not None and snapshot[0] <= last:
        data = orjson.loads(snapshot[1])
        projection = Projection(Seq(data["seq"]), [alert_from_json(a) for a in data["active"]])
    while projection.seq < last:
        raws = await store.read_events(projection.seq, REPLAY_BATCH)
        if not raws:
            break
        for raw in raws:
            event = decode_event(raw)
            projection.apply(event)
            if keep is not None:
                keep((event, raw))
    return projection


def _action(command: Command) -> str:
    return {
        "Declare": "alert.declare",
        "Update": "alert.update",
        "ClearAlert": "alert.clear",
        "ClearRegion": "region.clear",
    }[type(command).__name__]
