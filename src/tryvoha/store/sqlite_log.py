"""The engine's writes to the SQLite log, on the event loop's own thread (blocking it).

An engine write is short and rare, and its answer waits for its COMMIT anyway; handing
it to a thread and back cost two wake-ups per step (begin, commit), more than the
statements themselves. So the engine's transaction runs here, on its own connection:

- The lock is taken with BEGIN IMMEDIATE that never waits inside SQLite (busy_timeout
  is 0 on this connection). When another connection holds it (another serving process,
  an import, a snapshot), the wait is an asyncio sleep: the loop keeps serving.
- COMMIT waits for its fsync on the loop, hence `commit_blocking`. That is the write's
  own latency; the rest of the process waits one commit at most (about half a
  millisecond on an SSD).
- WAL checkpoints never run at this connection's commits (they copy pages into the
  database and fsync it: milliseconds). The store runs them on its writer thread, with
  its other upkeep, once MAINTAIN_EVERY commits have been made and writes pause for
  IDLE_SECONDS (alerts come in waves: the upkeep's fsync then does not compete with the
  wave's), or after MAINTAIN_AT_MOST commits without a pause.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from tryvoha.domain.events import Event, Seq
from tryvoha.store import rows as sql
from tryvoha.store.base import AuditEntry, Committed, IdempotencyRecord, StoreError
from tryvoha.store.rows import now_ms
from tryvoha.store.sqlite_rows import insert_audit, insert_events, insert_idempotency
from tryvoha.store.sqlite_schema import connect

log = logging.getLogger(__name__)

LOCK_WAIT_SECONDS = 30.0  # as long as the other connections' busy_timeout
FIRST_RETRY_SECONDS = 0.0005
LAST_RETRY_SECONDS = 0.01
MAINTAIN_EVERY = 100  # commits; about as many WAL pages as SQLite's own checkpoints
MAINTAIN_AT_MOST = 1000  # commits with no pause between them
IDLE_SECONDS = 0.2


class LogWriter:
    """The engine's connection: one transaction at a time (the engine holds its lock)."""

    def __init__(self, path: Path, maintain: Callable[[], None]) -> None:
        self.conn = connect(path)
        self.conn.execute("PRAGMA busy_timeout=0")
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        self._maintain = maintain
        self._unmaintained = 0  # commits since the last upkeep
        self._idle: asyncio.TimerHandle | None = None

    def close(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self.conn.close()

    async def begin(self, after: Seq, principal: str | None, key: str | None) -> LogTransaction:
        await self._lock()
        conn = self.conn
        try:
            tail = [
                r[0]
                for r in conn.execute(
                    "SELECT payload FROM events WHERE seq > ? ORDER BY seq", (after,)
                )
            ]
            active = False
            if principal is not None:
                token = conn.execute(
                    "SELECT revoked_ms, expires_ms FROM tokens WHERE name = ?", (principal,)
                ).fetchone()
                active = (
                    token is not None
                    and token[0] is None
                    and (token[1] is None or token[1] > sql.now_ms())
                )
            prior = None
            if key is not None and principal is not None:
                row = conn.execute(
                    "SELECT fingerprint, status, body FROM idempotency"
                    " WHERE principal = ? AND key = ?",
                    (principal, key),
                ).fetchone()
                if row is not None:
                    prior = IdempotencyRecord(principal, key, row[0], row[1], bytes(row[2]))
        except BaseException:
            self.rollback_blocking()
            raise
        return LogTransaction(self, tail, prior, active)

    async def _lock(self) -> None:
        """BEGIN IMMEDIATE, retried with an asyncio sleep while another holds the lock (the
        first try needs no retrying machinery: it is the common case)."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as e:
            if not _busy(e):
                raise
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(_busy),
                wait=wait_exponential(multiplier=FIRST_RETRY_SECONDS, max=LAST_RETRY_SECONDS),
                stop=stop_after_delay(LOCK_WAIT_SECONDS),
                reraise=True,
            ):
                with attempt:
                    self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            if not _busy(e):
                raise
            raise StoreError(f"the log stayed locked for {LOCK_WAIT_SECONDS:.0f} s") from e

    def commit_blocking(
        self,
        events: Sequence[Event],
        remember: IdempotencyRecord | None,
        audit: Sequence[AuditEntry],
    ) -> list[Committed]:
        conn = self.conn
        try:
            committed = insert_events(conn, events)
            if remember is not None:
                insert_idempotency(conn, remember, now_ms())
            insert_audit(conn, audit)
            conn.execute("COMMIT")
        except BaseException:
            self.rollback_blocking()
            raise
        self._unmaintained += 1
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._unmaintained >= MAINTAIN_AT_MOST:
            self._upkeep()
        elif self._unmaintained >= MAINTAIN_EVERY:
            self._idle = asyncio.get_running_loop().call_later(IDLE_SECONDS, self._upkeep)
        return committed

    def _upkeep(self) -> None:
        self._idle = None
        self._unmaintained = 0
        try:
            self._maintain()
        except Exception:  # a committed write's answer stands; the next upkeep will do
            log.exception("could not schedule the store's upkeep")

    def rollback_blocking(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


@dataclass
class LogTransaction:
    """A LoopWriteTransaction (store.base): SQLite's, on the loop's thread."""

    writer: LogWriter
    tail: Sequence[bytes]
    prior_answer: IdempotencyRecord | None
    principal_active: bool
    done: bool = field(default=False)

    @property
    def blocks_loop(self) -> Literal[True]:
        return True

    def commit_blocking(
        self,
        events: Sequence[Event],
        remember: IdempotencyRecord | None,
        audit: Sequence[AuditEntry] = (),
    ) -> list[Committed]:
        self.done = True
        return self.writer.commit_blocking(events, remember, audit)

    def rollback_blocking(self) -> None:
        if not self.done:
            self.done = True
            self.writer.rollback_blocking()


def _busy(error: BaseException) -> bool:
    """Another connection holds the lock (SQLITE_BUSY, BUSY_RECOVERY too)."""
    return (
        isinstance(error, sqlite3.OperationalError)
        and error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
    )
