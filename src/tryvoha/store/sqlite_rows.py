"""The SQLite store's statements on a connection: the log's inserts and bulk loads."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from tryvoha.domain.events import Event, PendingEvent, Seq
from tryvoha.store.base import TABLES, AuditEntry, Committed, IdempotencyRecord, Row, StoreError
from tryvoha.store.rows import encode, to_ms


def insert_idempotency(
    conn: sqlite3.Connection, record: IdempotencyRecord, created_ms: int
) -> None:
    conn.execute(
        "INSERT INTO idempotency (principal, key, fingerprint, status, body, created_ms)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (record.principal, record.key, record.fingerprint, record.status, record.body, created_ms),
    )


def forget_idempotency(conn: sqlite3.Connection, before_ms: int) -> None:
    conn.execute("DELETE FROM idempotency WHERE created_ms < ?", (before_ms,))


def last_seq(conn: sqlite3.Connection) -> Seq:
    return Seq(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])


def insert_audit(conn: sqlite3.Connection, entries: Sequence[AuditEntry]) -> None:
    conn.executemany(
        "INSERT INTO audit (at_ms, actor, action, outcome, detail) VALUES (?, ?, ?, ?, ?)",
        [(to_ms(e.at), e.actor, e.action, e.outcome, e.detail) for e in entries],
    )


def number(conn: sqlite3.Connection, events: Sequence[PendingEvent]) -> list[Event]:
    seq = last_seq(conn)
    return [Event.committed(Seq(seq + i), p) for i, p in enumerate(events, start=1)]


def insert_events(conn: sqlite3.Connection, events: Sequence[Event]) -> list[Committed]:
    last = last_seq(conn)
    if events and events[0].seq != last + 1:
        raise StoreError(f"event {events[0].seq} does not follow {last}: the log takes no gaps")
    committed, event_rows, alert_rows = encode(events)
    conn.executemany(
        "INSERT INTO events (seq, type, at_ms, alert_id, region_id, issuer, payload)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        event_rows,
    )
    conn.executemany(
        "INSERT INTO alerts (id, region_id, threat, started_ms, ended_ms, issuer, payload)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
        " ended_ms = excluded.ended_ms, payload = excluded.payload",
        alert_rows,
    )
    return committed


def insert_rows(conn: sqlite3.Connection, table: str, rows: Sequence[Row]) -> None:
    """Rows of a Transfer table as they are (events only after the last seq, no gap)."""
    columns = TABLES[table]
    if table == "events" and rows:
        last = last_seq(conn)
        if rows[0][0] != last + 1 or rows[-1][0] != last + len(rows):
            raise StoreError(f"event {rows[0][0]} does not follow {last}: the log takes no gaps")
    verb = "INSERT OR REPLACE" if table == "meta" else "INSERT"
    conn.executemany(
        f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        rows,
    )
