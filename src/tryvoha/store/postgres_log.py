"""The PostgreSQL log's writes: one transaction per write, seq handed out under a lock.

Every writer, on any machine, takes one transaction-scoped advisory lock (LOG_LOCK)
before it reads the log's head, and keeps it until its COMMIT or ROLLBACK. So writers
commit one at a time, each numbering its events from the head it read under the lock:
seq has no gap and follows commit order. PostgreSQL makes a commit visible before it
releases the transaction's locks, and under READ COMMITTED every statement after the lock
sees every commit before it; so the next writer reads the true head, and a reader that
has seen N and asks for "after N" can never miss a smaller seq committed later.

Statements are awaited: the loop serves while PostgreSQL waits for its fsync. A large
batch (an import) goes in by COPY; a small one (a declare) by one INSERT of arrays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import asyncpg

from tryvoha.domain.events import Event, Seq
from tryvoha.store.base import AuditEntry, Committed, IdempotencyRecord, Row, StoreError
from tryvoha.store.rows import encode, now_ms, to_ms

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]

LOG_LOCK = 0x7472_7976_6F68_6101  # the advisory lock that serialises every writer of the log
COPY_AT_LEAST = 2_000  # events; from there on COPY beats one INSERT of arrays

EVENT_COLUMNS = ("seq", "type", "at_ms", "alert_id", "region_id", "issuer", "payload")
ALERT_COLUMNS = ("id", "region_id", "threat", "started_ms", "ended_ms", "issuer", "payload")
INSERT_EVENTS = (
    "INSERT INTO events (seq, type, at_ms, alert_id, region_id, issuer, payload)"
    " SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[],"
    " $6::text[], $7::bytea[])"
)
UPSERT_ALERTS = (
    "INSERT INTO alerts (id, region_id, threat, started_ms, ended_ms, issuer, payload)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],"
    " $6::text[], $7::bytea[])"
    " ON CONFLICT (id) DO UPDATE SET ended_ms = excluded.ended_ms, payload = excluded.payload"
)
INSERT_AUDIT = (
    "INSERT INTO audit (at_ms, actor, action, outcome, detail)"
    " SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])"
)
UNDER_THE_LOCK = (
    "SELECT (SELECT coalesce(max(seq), 0) FROM events),"
    " (SELECT revoked_ms IS NULL AND (expires_ms IS NULL"
    " OR expires_ms > (extract(epoch from clock_timestamp()) * 1000)::bigint)"
    " FROM tokens WHERE name = $1),"
    " i.fingerprint, i.status, i.body"
    " FROM (SELECT 1) AS one LEFT JOIN idempotency AS i ON i.principal = $1 AND i.key = $2"
)


def columns(rows: Sequence[Row], width: int) -> list[list[Any]]:
    """Rows as one list per column (the arrays unnest takes)."""
    return [[row[i] for row in rows] for i in range(width)]


async def lock_log(conn: Conn) -> None:
    """Take the log's write lock for this transaction (waits at most lock_timeout)."""
    try:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOG_LOCK)
    except asyncpg.LockNotAvailableError:
        raise StoreError("the log stayed locked by another writer for too long") from None


async def head(conn: Conn) -> Seq:
    return Seq(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM events"))


async def insert_events(conn: Conn, events: Sequence[Event], last: Seq) -> list[Committed]:
    """The events (numbered from last + 1) and their alerts' new state."""
    if events and events[0].seq != last + 1:
        raise StoreError(f"event {events[0].seq} does not follow {last}: the log takes no gaps")
    committed, event_rows, alert_rows = encode(events)
    if len(event_rows) >= COPY_AT_LEAST:
        await conn.copy_records_to_table("events", records=event_rows, columns=EVENT_COLUMNS)
    elif event_rows:
        await conn.execute(INSERT_EVENTS, *columns(event_rows, 7))
    if alert_rows:
        await conn.execute(UPSERT_ALERTS, *columns(alert_rows, 7))
    return committed


async def insert_audit(conn: Conn, entries: Sequence[AuditEntry]) -> None:
    if entries:
        rows = [(to_ms(e.at), e.actor, e.action, e.outcome, e.detail) for e in entries]
        await conn.execute(INSERT_AUDIT, *columns(rows, 5))


class PgTransaction:
    """An AsyncWriteTransaction (store.base): holds a pooled connection, its transaction
    and the log's lock until commit or rollback."""

    def __init__(self, pool: asyncpg.Pool, on_commit: Any) -> None:
        self._pool = pool
        self._on_commit = on_commit
        self._conn: PoolConnectionProxy[Any] | None = None
        self._tx: Any = None
        self._head = Seq(0)
        self.tail: Sequence[bytes] = ()
        self.prior_answer: IdempotencyRecord | None = None
        self.principal_active = False

    @property
    def blocks_loop(self) -> Literal[False]:
        return False

    async def begin(self, after: Seq, principal: str | None, key: str | None) -> PgTransaction:
        self._conn = conn = await self._pool.acquire()
        try:
            self._tx = conn.transaction()
            await self._tx.start()
            await lock_log(conn)
            row = await conn.fetchrow(UNDER_THE_LOCK, principal, key)
            assert row is not None
            self._head = Seq(row[0])
            self.principal_active = bool(row[1])
            if row[2] is not None and principal is not None and key is not None:
                self.prior_answer = IdempotencyRecord(principal, key, row[2], row[3], row[4])
            if self._head > after:
                tail = await conn.fetch(
                    "SELECT payload FROM events WHERE seq > $1 ORDER BY seq", after
                )
                self.tail = [r[0] for r in tail]
        except BaseException:
            await self._end(commit=False)
            raise
        return self

    async def commit(
        self,
        events: Sequence[Event],
        remember: IdempotencyRecord | None,
        audit: Sequence[AuditEntry] = (),
    ) -> list[Committed]:
        conn = self._conn
        if conn is None:
            raise StoreError("this write transaction has ended")
        try:
            committed = await insert_events(conn, events, self._head)
            if remember is not None:
                r = remember
                await conn.execute(
                    "INSERT INTO idempotency (principal, key, fingerprint, status, body,"
                    " created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                    *(r.principal, r.key, r.fingerprint, r.status, r.body, now_ms()),
                )
            await insert_audit(conn, audit)
        except BaseException:
            await self._end(commit=False)
            raise
        await self._end(commit=True)
        self._on_commit()
        return committed

    async def rollback(self) -> None:
        await self._end(commit=False)

    async def _end(self, *, commit: bool) -> None:
        conn, tx = self._conn, self._tx
        if conn is None:
            return
        self._conn = self._tx = None
        try:
            if tx is not None and commit:
                await tx.commit()
            elif tx is not None:
                await asyncio.shield(tx.rollback())
        finally:
            await asyncio.shield(self._pool.release(conn))
