"""Rows of the SQLite store: the log's inserts and the queries, on a connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.events import Event, PendingEvent, Seq
from tryvoha.domain.regions import RegionId
from tryvoha.domain.scope import Role
from tryvoha.protocol.wire import alert_from_json, event_to_json
from tryvoha.store.base import (
    AuditEntry,
    Committed,
    HistoryPage,
    HistoryQuery,
    StoreError,
    TokenRecord,
)
from tryvoha.store.sqlite_schema import from_ms, to_ms


def insert_idempotency(conn: sqlite3.Connection, record: Any, created_ms: int) -> None:
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


def token_row(row: tuple[Any, ...]) -> TokenRecord:
    scope = tuple(RegionId(s) for s in row[3].split(",") if s)
    return TokenRecord(
        row[0],
        row[1],
        Role(row[2]),
        scope,
        from_ms(row[4]),
        None if row[5] is None else from_ms(row[5]),
    )


def alert_filter(
    regions: frozenset[RegionId] | None,
    threat: ThreatType | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if regions is not None:
        clauses.append(f"region_id IN ({','.join('?' * len(regions))})")
        params.extend(sorted(regions))
    if threat is not None:
        clauses.append("threat = ?")
        params.append(threat.value)
    if since is not None:
        clauses.append("(ended_ms IS NULL OR ended_ms > ?)")
        params.append(to_ms(since))
    if until is not None:
        clauses.append("started_ms < ?")
        params.append(to_ms(until))
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def history(conn: sqlite3.Connection, query: HistoryQuery) -> HistoryPage:
    where, params = alert_filter(query.regions, query.threat, query.since, query.until)
    clauses = [where[len(" WHERE ") :]] if where else []
    if query.issuer is not None:
        clauses.append("issuer = ?")
        params.append(query.issuer)
    if query.cursor is not None:
        started, _, alert_id = query.cursor.partition("_")
        clauses.append("(started_ms < ? OR (started_ms = ? AND id < ?))")
        params.extend([int(started), int(started), alert_id])
    sql = "SELECT started_ms, id, payload FROM alerts"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY started_ms DESC, id DESC LIMIT ?"
    rows = conn.execute(sql, [*params, query.limit + 1]).fetchall()
    alerts = [alert_from_json(orjson.loads(r[2])) for r in rows[: query.limit]]
    next_cursor = None
    if len(rows) > query.limit:
        last = rows[query.limit - 1]
        next_cursor = f"{last[0]}_{last[1]}"
    return HistoryPage(alerts, next_cursor)


def number(conn: sqlite3.Connection, events: Sequence[PendingEvent]) -> list[Event]:
    seq = last_seq(conn)
    return [Event.committed(Seq(seq + i), p) for i, p in enumerate(events, start=1)]


def insert_events(conn: sqlite3.Connection, events: Sequence[Event]) -> list[Committed]:
    last = last_seq(conn)
    if events and events[0].seq != last + 1:
        raise StoreError(f"event {events[0].seq} does not follow {last}: the log takes no gaps")
    committed: list[Committed] = []
    event_rows = []
    alert_rows = []
    for event in events:
        seq = event.seq
        data = event_to_json(event)
        raw = orjson.dumps(data)
        alert = event.alert
        event_rows.append(
            (seq, event.type.value, to_ms(event.at), alert.id, alert.region_id, event.issuer, raw)
        )
        alert_rows.append(
            (
                alert.id,
                alert.region_id,
                alert.threat.value,
                to_ms(alert.started_at),
                None if alert.ended_at is None else to_ms(alert.ended_at),
                alert.issuer,
                orjson.dumps(data["alert"]),
            )
        )
        committed.append(Committed(event, raw))
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
