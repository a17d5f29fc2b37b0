"""The embedded store: one SQLite file in WAL mode with synchronous=FULL.

One writer thread owns the write connection (datasette's pattern); reads run on a small
pool of threads, each with its own connection. A write holds SQLite's lock from
BEGIN IMMEDIATE to COMMIT, so several processes may write the same file safely.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import orjson

from tryvoha.domain.alerts import Alert, ThreatType
from tryvoha.domain.events import Event, PendingEvent, Seq
from tryvoha.domain.regions import RegionId
from tryvoha.domain.scope import Role
from tryvoha.protocol.wire import alert_from_json, event_to_json
from tryvoha.store.base import (
    AuditEntry,
    Committed,
    HistoryPage,
    HistoryQuery,
    IdempotencyRecord,
    StoreError,
    TokenExistsError,
    TokenRecord,
)

T = TypeVar("T")

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
)

# Numbered migrations; PRAGMA user_version records how many have run.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY, type TEXT NOT NULL, at_ms INTEGER NOT NULL,
            alert_id TEXT NOT NULL, region_id TEXT NOT NULL, issuer TEXT NOT NULL,
            payload BLOB NOT NULL)""",
        """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END""",
        """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END""",
        """CREATE TABLE alerts (
            id TEXT PRIMARY KEY, region_id TEXT NOT NULL, threat TEXT NOT NULL,
            started_ms INTEGER NOT NULL, ended_ms INTEGER, issuer TEXT NOT NULL,
            payload BLOB NOT NULL)""",
        "CREATE INDEX events_by_issuer ON events (issuer, seq)",
        "CREATE INDEX alerts_by_region ON alerts (region_id, started_ms)",
        "CREATE INDEX alerts_by_start ON alerts (started_ms, id)",
        """CREATE TABLE idempotency (
            principal TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
            status INTEGER NOT NULL, body BLOB NOT NULL, created_ms INTEGER NOT NULL,
            PRIMARY KEY (principal, key))""",
        """CREATE TABLE tokens (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
            scope TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_ms INTEGER NOT NULL,
            revoked_ms INTEGER)""",
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, actor TEXT NOT NULL,
            action TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL)""",
        "CREATE INDEX audit_by_actor ON audit (actor, id)",
        """CREATE TABLE snapshots (
            seq INTEGER PRIMARY KEY, payload BLOB NOT NULL, created_ms INTEGER NOT NULL)""",
    ),
)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def to_ms(moment: datetime) -> int:
    return (moment - EPOCH) // MILLISECOND


def from_ms(ms: int) -> datetime:
    return EPOCH + ms * MILLISECOND


def now_ms() -> int:
    return to_ms(datetime.now(UTC))


def path_from_url(url: str) -> Path:
    """sqlite:///var/tryvoha.db is relative to the working directory, sqlite:////srv/t.db absolute."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise StoreError(f"'{url}' is not a SQLite URL; write sqlite:///path/to/file.db")
    return Path(url[len(prefix) :])


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


@dataclass
class _SqliteWrite:
    store: SqliteStore
    tail: Sequence[bytes]
    prior_answer: IdempotencyRecord | None
    done: bool = field(default=False)

    async def commit(
        self,
        events: Sequence[Event],
        remember: IdempotencyRecord | None,
        audit: Sequence[AuditEntry] = (),
    ) -> list[Committed]:
        self.done = True
        return await self.store._write(self.store._commit, events, remember, audit)

    async def rollback(self) -> None:
        if not self.done:
            self.done = True
            await self.store._write(self.store._rollback)


class SqliteStore:
    def __init__(self, url: str, read_threads: int = 2) -> None:
        self.url = url
        self.path = path_from_url(url)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._readers = ThreadPoolExecutor(read_threads, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        self._wconn: sqlite3.Connection | None = None
        self._read_conns: list[sqlite3.Connection] = []

    # -- plumbing -------------------------------------------------------------

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._readers, self._with_reader, fn, args
        )

    def _with_reader(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _connect(self.path)
            self._read_conns.append(conn)
        return fn(conn, *args)

    @property
    def _w(self) -> sqlite3.Connection:
        if self._wconn is None:
            raise StoreError("the store is not open")
        return self._wconn

    async def open(self) -> None:
        await self._write(self._open)

    def _open(self) -> None:
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._wconn = self._migrate(_connect(self.path))
        except sqlite3.Error as e:
            raise StoreError(f"cannot open {self.path}: {e}") from None

    def _migrate(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this tryvoha knows "
                f"({len(MIGRATIONS)}); upgrade tryvoha"
            )
        for number in range(version, len(MIGRATIONS)):
            conn.execute("BEGIN IMMEDIATE")
            # re-check under the lock: another process may have migrated meanwhile
            if conn.execute("PRAGMA user_version").fetchone()[0] > number:
                conn.execute("ROLLBACK")
                continue
            for statement in MIGRATIONS[number]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number + 1}")
            conn.execute("COMMIT")
        return conn

    async def close(self) -> None:
        def _close() -> None:
            if self._wconn is not None:
                self._wconn.close()
                self._wconn = None

        await self._write(_close)
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        for conn in self._read_conns:
            conn.close()

    # -- the log --------------------------------------------------------------

    async def last_seq(self) -> Seq:
        return await self._read(_last_seq)

    async def read_events(self, after: Seq, limit: int) -> list[bytes]:
        def _q(conn: sqlite3.Connection) -> list[bytes]:
            rows = conn.execute(
                "SELECT payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
            ).fetchall()
            return [r[0] for r in rows]

        return await self._read(_q)

    async def events_by_issuer(self, issuer: str, limit: int) -> list[bytes]:
        def _q(conn: sqlite3.Connection) -> list[bytes]:
            rows = conn.execute(
                "SELECT payload FROM events WHERE issuer = ? ORDER BY seq DESC LIMIT ?",
                (issuer, limit),
            ).fetchall()
            return [r[0] for r in rows]

        return await self._read(_q)

    async def begin_write(
        self, after: Seq, principal: str | None = None, idempotency_key: str | None = None
    ) -> _SqliteWrite:
        tail, prior = await self._write(self._begin, after, principal, idempotency_key)
        return _SqliteWrite(self, tail, prior)

    def _begin(
        self, after: Seq, principal: str | None, key: str | None
    ) -> tuple[list[bytes], IdempotencyRecord | None]:
        conn = self._w
        conn.execute("BEGIN IMMEDIATE")
        try:
            tail = [
                r[0]
                for r in conn.execute(
                    "SELECT payload FROM events WHERE seq > ? ORDER BY seq", (after,)
                )
            ]
            prior = None
            if key is not None and principal is not None:
                row = conn.execute(
                    "SELECT fingerprint, status, body FROM idempotency WHERE principal = ? AND key = ?",
                    (principal, key),
                ).fetchone()
                if row is not None:
                    prior = IdempotencyRecord(principal, key, row[0], row[1], bytes(row[2]))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return tail, prior

    def _commit(
        self,
        events: Sequence[Event],
        remember: IdempotencyRecord | None,
        audit: Sequence[AuditEntry],
    ) -> list[Committed]:
        conn = self._w
        try:
            committed = _insert_events(conn, events)
            if remember is not None:
                conn.execute(
                    "INSERT INTO idempotency (principal, key, fingerprint, status, body, created_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        remember.principal,
                        remember.key,
                        remember.fingerprint,
                        remember.status,
                        remember.body,
                        now_ms(),
                    ),
                )
            _insert_audit(conn, audit)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return committed

    def _rollback(self) -> None:
        if self._w.in_transaction:
            self._w.execute("ROLLBACK")

    async def append_batch(self, events: Sequence[PendingEvent]) -> Seq:
        def _batch() -> Seq:
            conn = self._w
            conn.execute("BEGIN IMMEDIATE")
            try:
                committed = _insert_events(conn, _number(conn, events))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return committed[-1].event.seq if committed else _last_seq(conn)

        return await self._write(_batch)

    # -- snapshots --------------------------------------------------------------

    async def load_snapshot(self) -> tuple[Seq, bytes] | None:
        def _q(conn: sqlite3.Connection) -> tuple[Seq, bytes] | None:
            row = conn.execute(
                "SELECT seq, payload FROM snapshots ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            return None if row is None else (Seq(row[0]), bytes(row[1]))

        return await self._read(_q)

    async def save_snapshot(self, seq: Seq, payload: bytes) -> None:
        def _save() -> None:
            conn = self._w
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT OR REPLACE INTO snapshots (seq, payload, created_ms) VALUES (?, ?, ?)",
                (seq, payload, now_ms()),
            )
            conn.execute("DELETE FROM snapshots WHERE seq < ?", (seq,))
            conn.execute("COMMIT")

        await self._write(_save)

    # -- read models --------------------------------------------------------------

    async def get_alert(self, alert_id: str) -> Alert | None:
        def _q(conn: sqlite3.Connection) -> Alert | None:
            row = conn.execute("SELECT payload FROM alerts WHERE id = ?", (alert_id,)).fetchone()
            return None if row is None else alert_from_json(orjson.loads(row[0]))

        return await self._read(_q)

    async def has_alert_ids(self, alert_ids: Sequence[str]) -> set[str]:
        def _q(conn: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(alert_ids), 500):
                chunk = list(alert_ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                found.update(
                    r[0]
                    for r in conn.execute(f"SELECT id FROM alerts WHERE id IN ({marks})", chunk)
                )
            return found

        return await self._read(_q)

    async def alert_span(self, issuer: str) -> tuple[datetime, datetime | None] | None:
        def _q(conn: sqlite3.Connection) -> tuple[datetime, datetime | None] | None:
            first, last, active = conn.execute(
                "SELECT min(started_ms), max(ended_ms), count(*) - count(ended_ms)"
                " FROM alerts WHERE issuer = ?",
                (issuer,),
            ).fetchone()
            if first is None:
                return None
            return from_ms(first), None if active or last is None else from_ms(last)

        return await self._read(_q)

    async def alert_history(self, query: HistoryQuery) -> HistoryPage:
        return await self._read(_history, query)

    async def alert_intervals(
        self,
        regions: frozenset[RegionId] | None,
        threat: ThreatType | None,
        since: datetime | None,
        until: datetime | None,
    ) -> list[tuple[RegionId, datetime, datetime | None]]:
        def _q(conn: sqlite3.Connection) -> list[tuple[RegionId, datetime, datetime | None]]:
            where, params = _alert_filter(regions, threat, since, until)
            rows = conn.execute(
                f"SELECT region_id, started_ms, ended_ms FROM alerts{where} ORDER BY started_ms",
                params,
            ).fetchall()
            return [
                (RegionId(r[0]), from_ms(r[1]), None if r[2] is None else from_ms(r[2]))
                for r in rows
            ]

        return await self._read(_q)

    # -- issuers and audit ------------------------------------------------------------

    async def create_token(
        self, name: str, role: Role, scope: Sequence[RegionId], token_hash: str
    ) -> TokenRecord:
        def _create() -> TokenRecord:
            conn = self._w
            created = now_ms()
            conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = conn.execute(
                    "INSERT INTO tokens (name, role, scope, hash, created_ms) VALUES (?, ?, ?, ?, ?)",
                    (name, role.value, ",".join(scope), token_hash, created),
                )
                _insert_audit(
                    conn,
                    [
                        AuditEntry(
                            from_ms(created),
                            "cli",
                            "token.create",
                            "ok",
                            f"name={name} role={role} scope={','.join(scope)}",
                        )
                    ],
                )
                conn.execute("COMMIT")
            except sqlite3.IntegrityError:
                conn.execute("ROLLBACK")
                raise TokenExistsError(f"a token named '{name}' exists already") from None
            return TokenRecord(
                int(cursor.lastrowid or 0), name, role, tuple(scope), from_ms(created), None
            )

        return await self._write(_create)

    async def list_tokens(self) -> list[TokenRecord]:
        def _q(conn: sqlite3.Connection) -> list[TokenRecord]:
            rows = conn.execute(
                "SELECT id, name, role, scope, created_ms, revoked_ms FROM tokens ORDER BY id"
            ).fetchall()
            return [_token(r) for r in rows]

        return await self._read(_q)

    async def revoke_token(self, name: str) -> bool:
        def _revoke() -> bool:
            conn = self._w
            conn.execute("BEGIN IMMEDIATE")
            cursor = conn.execute(
                "UPDATE tokens SET revoked_ms = ? WHERE name = ? AND revoked_ms IS NULL",
                (now_ms(), name),
            )
            if cursor.rowcount:
                _insert_audit(
                    conn,
                    [AuditEntry(datetime.now(UTC), "cli", "token.revoke", "ok", f"name={name}")],
                )
            conn.execute("COMMIT")
            return cursor.rowcount > 0

        return await self._write(_revoke)

    async def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        def _q(conn: sqlite3.Connection) -> TokenRecord | None:
            row = conn.execute(
                "SELECT id, name, role, scope, created_ms, revoked_ms FROM tokens WHERE hash = ?",
                (token_hash,),
            ).fetchone()
            return None if row is None else _token(row)

        return await self._read(_q)

    async def audit(self, entries: Sequence[AuditEntry]) -> None:
        def _a() -> None:
            conn = self._w
            conn.execute("BEGIN IMMEDIATE")
            _insert_audit(conn, entries)
            conn.execute("COMMIT")

        await self._write(_a)

    async def read_audit(self, actor: str | None, limit: int) -> list[AuditEntry]:
        def _q(conn: sqlite3.Connection) -> list[AuditEntry]:
            sql = "SELECT at_ms, actor, action, outcome, detail FROM audit"
            params: list[Any] = []
            if actor is not None:
                sql += " WHERE actor = ?"
                params.append(actor)
            rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", [*params, limit]).fetchall()
            return [AuditEntry(from_ms(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

        return await self._read(_q)


def _last_seq(conn: sqlite3.Connection) -> Seq:
    return Seq(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])


def _insert_audit(conn: sqlite3.Connection, entries: Sequence[AuditEntry]) -> None:
    conn.executemany(
        "INSERT INTO audit (at_ms, actor, action, outcome, detail) VALUES (?, ?, ?, ?, ?)",
        [(to_ms(e.at), e.actor, e.action, e.outcome, e.detail) for e in entries],
    )


def _token(row: tuple[Any, ...]) -> TokenRecord:
    scope = tuple(RegionId(s) for s in row[3].split(",") if s)
    return TokenRecord(
        row[0],
        row[1],
        Role(row[2]),
        scope,
        from_ms(row[4]),
        None if row[5] is None else from_ms(row[5]),
    )


def _alert_filter(
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


def _history(conn: sqlite3.Connection, query: HistoryQuery) -> HistoryPage:
    where, params = _alert_filter(query.regions, query.threat, query.since, query.until)
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


def _number(conn: sqlite3.Connection, events: Sequence[PendingEvent]) -> list[Event]:
    seq = _last_seq(conn)
    return [Event.committed(Seq(seq + i), p) for i, p in enumerate(events, start=1)]


def _insert_events(conn: sqlite3.Connection, events: Sequence[Event]) -> list[Committed]:
    last = _last_seq(conn)
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
