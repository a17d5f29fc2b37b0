"""The embedded store: one SQLite file in WAL mode with synchronous=FULL.

The engine's writes run on the event loop's thread, on a connection of their own
(sqlite_log). Every other write (imports, snapshots, tokens, checkpoints) goes to one
writer thread with its own connection (datasette's pattern); reads run on a small pool of
threads, each with its own connection. A write holds SQLite's lock from BEGIN IMMEDIATE
to COMMIT, so these connections, and several processes, may write the same file safely.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from tryvoha.domain.alerts import Alert, ThreatType
from tryvoha.domain.events import PendingEvent, Seq
from tryvoha.domain.regions import RegionId
from tryvoha.domain.scope import Role
from tryvoha.protocol.wire import alert_from_json
from tryvoha.store import rows as sql
from tryvoha.store.base import (
    CHAT_CURSOR,
    TABLES,
    AuditEntry,
    AuditQuery,
    ChatRecord,
    HistoryPage,
    HistoryQuery,
    PendingDeclare,
    PushSubscription,
    Row,
    StoreError,
    StoreFullError,
    TokenExistsError,
    TokenRecord,
)
from tryvoha.store.schema import State, refuse, upgrade
from tryvoha.store.sqlite_log import LogTransaction, LogWriter
from tryvoha.store.sqlite_rows import (
    forget_idempotency,
    insert_audit,
    insert_events,
    insert_rows,
    last_seq,
    number,
)
from tryvoha.store.sqlite_schema import connect, found, transaction
from tryvoha.store.sqlite_webhooks import SqliteWebhooks
from tryvoha.store.urls import sqlite_path

T = TypeVar("T")
IDEMPOTENCY_RETENTION_MS = 24 * 3600 * 1000  # a retry later than a day is a new request


def _params() -> sql.Params:
    return sql.Params("qmark")


class SqliteStore(SqliteWebhooks):
    def __init__(self, url: str, read_threads: int = 2) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._readers = ThreadPoolExecutor(read_threads, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        self._wconn: sqlite3.Connection | None = None
        self._log: LogWriter | None = None
        self._read_conns: list[sqlite3.Connection] = []
        self._closed = False
        self.epoch = ""

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
            conn = self._local.conn = connect(self.path)
            self._read_conns.append(conn)
        return fn(conn, *args)

    async def _rows(self, statement: str, params: Sequence[Any]) -> list[Any]:
        return await self._read(lambda conn: conn.execute(statement, params).fetchall())

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
            conn = connect(self.path)
            try:
                schema = found(conn)
                if schema.state is State.EMPTY:  # a new store: created here, at once
                    upgrade(self.url)
                    schema = found(conn)
                refuse(schema, self.url)
            except BaseException:
                conn.close()
                raise
            self.epoch = conn.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]
            self._wconn = conn
            self._maintain_now()
            self._log = LogWriter(self.path, self._maintain)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open {self.path}: {e}") from None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._log is not None:
            self._log.close()
            self._log = None

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
        return await self._read(last_seq)

    async def writable(self) -> bool:
        await self.last_seq()
        return os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)

    async def read_events(self, after: Seq, limit: int) -> list[bytes]:
        rows = await self._rows(
            "SELECT payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        )
        return [r[0] for r in rows]

    async def events_by_issuer(self, issuer: str, limit: int) -> list[bytes]:
        rows = await self._rows(
            "SELECT payload FROM events WHERE issuer = ? ORDER BY seq DESC LIMIT ?",
            (issuer, limit),
        )
        return [r[0] for r in rows]

    async def events_of_alerts(self, alert_ids: Sequence[str]) -> list[bytes]:
        def _q(conn: sqlite3.Connection) -> list[bytes]:
            found: list[tuple[int, bytes]] = []
            ids = list(dict.fromkeys(alert_ids))
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.extend(
                    conn.execute(
                        f"SELECT seq, payload FROM events WHERE alert_id IN ({marks})", chunk
                    ).fetchall()
                )
            return [payload for _, payload in sorted(found)]

        return await self._read(_q)

    async def begin_write(
        self, after: Seq, principal: str | None = None, idempotency_key: str | None = None
    ) -> LogTransaction:
        if self._log is None:
            raise StoreError("the store is not open")
        return await self._log.begin(after, principal, idempotency_key)

    def _maintain(self) -> None:
        """Every so many engine commits, on the writer thread (see sqlite_log)."""
        self._writer.submit(self._maintain_now)

    def _maintain_now(self) -> None:
        """Forget idempotency keys past their retention; copy the WAL into the database."""
        if self._wconn is None:
            return
        with transaction(self._wconn) as conn:
            forget_idempotency(conn, sql.now_ms() - IDEMPOTENCY_RETENTION_MS)
        self._wconn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def append_batch(self, events: Sequence[PendingEvent]) -> Seq:
        def _batch() -> Seq:
            with transaction(self._w) as conn:
                committed = insert_events(conn, number(conn, events))
                return committed[-1].event.seq if committed else last_seq(conn)

        return await self._write(_batch)

    # -- snapshots --------------------------------------------------------------

    async def load_snapshot(self) -> tuple[Seq, bytes] | None:
        rows = await self._rows("SELECT seq, payload FROM snapshots ORDER BY seq DESC LIMIT 1", ())
        return (Seq(rows[0][0]), bytes(rows[0][1])) if rows else None

    async def save_snapshot(self, seq: Seq, payload: bytes) -> None:
        def _save() -> None:
            with transaction(self._w) as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO snapshots (seq, payload, created_ms) VALUES (?, ?, ?)",
                    (seq, payload, sql.now_ms()),
                )
                conn.execute("DELETE FROM snapshots WHERE seq < ?", (seq,))

        await self._write(_save)

    # -- read models --------------------------------------------------------------

    async def get_alert(self, alert_id: str) -> Alert | None:
        rows = await self._rows("SELECT payload FROM alerts WHERE id = ?", (alert_id,))
        return alert_from_json(orjson.loads(rows[0][0])) if rows else None

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
        rows = await self._rows(
            "SELECT min(started_ms), max(ended_ms), count(*) - count(ended_ms)"
            " FROM alerts WHERE issuer = ?",
            (issuer,),
        )
        return sql.span(*rows[0])

    async def alert_history(self, query: HistoryQuery) -> HistoryPage:
        p = _params()
        statement = sql.history_sql(p, query)
        return sql.history_page(await self._rows(statement, p.values), query)

    async def alert_intervals(
        self,
        regions: frozenset[RegionId] | None,
        threat: ThreatType | None,
        since: datetime | None,
        until: datetime | None,
    ) -> list[tuple[RegionId, datetime, datetime | None]]:
        p = _params()
        statement = sql.intervals_sql(p, regions, threat, since, until)
        return [sql.interval(r) for r in await self._rows(statement, p.values)]

    # -- issuers and audit ------------------------------------------------------------

    async def create_token(
        self,
        name: str,
        role: Role,
        scope: Sequence[RegionId],
        token_hash: str,
        expires_at: datetime | None = None,
    ) -> TokenRecord:
        expires = None if expires_at is None else sql.to_ms(expires_at)

        def _create() -> TokenRecord:
            created = sql.now_ms()
            detail = f"name={name} role={role} scope={','.join(scope)}"
            if expires is not None:
                detail += f" expires={sql.from_ms(expires).isoformat()}"
            try:
                with transaction(self._w) as conn:
                    cursor = conn.execute(
                        "INSERT INTO tokens (name, role, scope, hash, created_ms, expires_ms)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (name, role.value, ",".join(scope), token_hash, created, expires),
                    )
                    conn.execute(sql.BUMP_TOKENS)
                    entry = AuditEntry(sql.from_ms(created), "cli", "token.create", "ok", detail)
                    insert_audit(conn, [entry])
            except sqlite3.IntegrityError:
                raise TokenExistsError(f"a token named '{name}' exists already") from None
            return TokenRecord(
                int(cursor.lastrowid or 0),
                name,
                role,
                tuple(scope),
                sql.from_ms(created),
                None,
                None if expires is None else sql.from_ms(expires),
            )

        return await self._write(_create)

    async def list_tokens(self) -> list[TokenRecord]:
        rows = await self._rows(f"SELECT {sql.TOKEN_COLUMNS} FROM tokens AS t ORDER BY t.id", ())
        return [sql.token_row(r) for r in rows]

    async def revoke_token(self, name: str) -> bool:
        def _revoke() -> bool:
            with transaction(self._w) as conn:
                cursor = conn.execute(
                    "UPDATE tokens SET revoked_ms = ? WHERE name = ? AND revoked_ms IS NULL",
                    (sql.now_ms(), name),
                )
                if cursor.rowcount:
                    conn.execute(
                        "DELETE FROM token_overlap WHERE token_id IN"
                        " (SELECT id FROM tokens WHERE name = ?)",
                        (name,),
                    )
                    conn.execute(sql.BUMP_TOKENS)
                    entry = AuditEntry(
                        datetime.now(UTC), "cli", "token.revoke", "ok", f"name={name}"
                    )
                    insert_audit(conn, [entry])
                return cursor.rowcount > 0

        return await self._write(_revoke)

    async def rotate_token(
        self, name: str, new_hash: str, overlap_seconds: float
    ) -> TokenRecord | None:
        def _rotate() -> TokenRecord | None:
            now = sql.now_ms()
            usable = sql.USABLE.format(now=now)
            with transaction(self._w) as conn:
                row = conn.execute(
                    f"SELECT {sql.TOKEN_COLUMNS}, t.hash FROM tokens AS t"
                    f" WHERE t.name = ? AND {usable}",
                    (name,),
                ).fetchone()
                if row is None:
                    return None
                until = now + int(overlap_seconds * 1000)
                conn.execute(
                    "INSERT INTO token_overlap (hash, token_id, until_ms) VALUES (?, ?, ?)",
                    (row[-1], row[0], until),
                )
                conn.execute("UPDATE tokens SET hash = ? WHERE id = ?", (new_hash, row[0]))
                conn.execute(sql.BUMP_TOKENS)
                detail = f"name={name} old secret valid until {sql.from_ms(until).isoformat()}"
                insert_audit(
                    conn, [AuditEntry(sql.from_ms(now), "cli", "token.rotate", "ok", detail)]
                )
                return sql.token_row(row[:-1])

        return await self._write(_rotate)

    async def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        text, values = sql.statement(
            sql.TOKEN_BY_HASH, "qmark", hash=token_hash, hash2=token_hash, now=sql.now_ms()
        )
        rows = await self._rows(text, values)
        return sql.token_row(rows[0]) if rows else None

    async def touch_token(self, name: str) -> None:
        def _touch() -> None:
            with transaction(self._w) as conn:
                conn.execute(
                    "UPDATE tokens SET last_used_ms = ? WHERE name = ?", (sql.now_ms(), name)
                )

        await self._write(_touch)

    async def tokens_version(self) -> int:
        rows = await self._rows("SELECT value FROM meta WHERE key = 'tokens_version'", ())
        return int(rows[0][0]) if rows else 0

    async def audit(self, entries: Sequence[AuditEntry]) -> None:
        def _a() -> None:
            with transaction(self._w) as conn:
                insert_audit(conn, entries)

        await self._write(_a)

    async def read_audit(self, query: AuditQuery) -> list[AuditEntry]:
        rows = await self._rows(*sql.audit_query(query, "qmark"))
        return [AuditEntry(sql.from_ms(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

    # -- transfer ---------------------------------------------------------------------

    # -- declares waiting for a second person -----------------------------------------

    async def add_pending(self, pending: PendingDeclare, audit: AuditEntry) -> None:
        def _add() -> None:
            with transaction(self._w) as conn:
                conn.execute(
                    f"INSERT INTO pending ({sql.PENDING_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    sql.pending_values(pending),
                )
                insert_audit(conn, [audit])

        await self._write(_add)

    async def get_pending(self, pending_id: str) -> PendingDeclare | None:
        rows = await self._rows(
            f"SELECT {sql.PENDING_COLUMNS} FROM pending WHERE id = ?", (pending_id,)
        )
        return sql.pending_row(rows[0]) if rows else None

    async def list_pending(self, limit: int) -> list[PendingDeclare]:
        rows = await self._rows(
            f"SELECT {sql.PENDING_COLUMNS} FROM pending ORDER BY created_ms DESC LIMIT ?",
            (limit,),
        )
        return [sql.pending_row(r) for r in rows]

    async def decide_pending(
        self, pending_id: str, outcome: str, by: str, seq: Seq | None, audit: AuditEntry
    ) -> bool:
        text, values = sql.statement(
            sql.DECIDE_PENDING,
            "qmark",
            outcome=outcome,
            by=by,
            now=sql.now_ms(),
            seq=seq,
            id=pending_id,
        )

        def _decide() -> bool:
            with transaction(self._w) as conn:
                if conn.execute(text, values).rowcount == 0:
                    return False
                insert_audit(conn, [audit])
                return True

        return await self._write(_decide)

    # -- the channels' delivery state ----------------------------------------------

    async def take_lease(self, name: str, holder: str, seconds: float) -> bool:
        now = sql.now_ms()
        text, values = sql.statement(
            sql.TAKE_LEASE, "qmark", name=name, holder=holder, ttl=int(seconds * 1000), now=now
        )

        def _take() -> bool:
            with transaction(self._w) as conn:
                return conn.execute(text, values).rowcount > 0

        return await self._write(_take)

    async def drop_lease(self, name: str, holder: str) -> None:
        text, values = sql.statement(sql.DROP_LEASE, "qmark", name=name, holder=holder)

        def _drop() -> None:
            with transaction(self._w) as conn:
                conn.execute(text, values)

        await self._write(_drop)

    async def read_cursors(self, prefix: str) -> dict[str, Seq]:
        found = await self._rows(
            "SELECT name, seq FROM cursors WHERE substr(name, 1, ?) = ?", (len(prefix), prefix)
        )
        return {name: Seq(seq) for name, seq in found}

    async def move_cursors(self, moves: Mapping[str, Seq], lease: str, holder: str) -> bool:
        now = sql.now_ms()
        holds, held_values = sql.statement(
            sql.HOLDS_LEASE, "qmark", name=lease, holder=holder, now=now
        )
        move = sql.statement(sql.MOVE_CURSOR, "qmark", name="", seq=0, now=0)[0]

        def _move() -> bool:
            with transaction(self._w) as conn:
                if conn.execute(holds, held_values).fetchone() is None:
                    return False
                conn.executemany(move, [(name, seq, now) for name, seq in moves.items()])
                return True

        return await self._write(_move)

    async def drop_cursors(self, names: Sequence[str]) -> None:
        def _drop() -> None:
            with transaction(self._w) as conn:
                conn.executemany("DELETE FROM cursors WHERE name = ?", [(n,) for n in names])

        await self._write(_drop)

    # -- the Telegram bot's subscribers ------------------------------------------------

    async def subscribe_chat(self, chat_id: int, region_id: RegionId, lang: str, seq: Seq) -> None:
        now = sql.now_ms()
        subscribe = sql.statement(
            sql.SUBSCRIBE_CHAT, "qmark", chat=chat_id, region=region_id, lang=lang, now=now
        )
        move = sql.statement(
            sql.MOVE_CURSOR, "qmark", name=CHAT_CURSOR + str(chat_id), seq=seq, now=now
        )

        def _subscribe() -> None:
            with transaction(self._w) as conn:
                conn.execute(*subscribe)
                conn.execute(*move)

        await self._write(_subscribe)

    async def set_chat_language(self, chat_id: int, lang: str) -> bool:
        text, values = sql.statement(sql.CHAT_LANGUAGE, "qmark", chat=chat_id, lang=lang)

        def _set() -> bool:
            with transaction(self._w) as conn:
                return conn.execute(text, values).rowcount > 0

        return await self._write(_set)

    async def unsubscribe_chat(self, chat_id: int) -> bool:
        forget = sql.statement(sql.UNSUBSCRIBE_CHAT, "qmark", chat=chat_id)
        drop = sql.statement(sql.DROP_CURSOR, "qmark", name=CHAT_CURSOR + str(chat_id))

        def _unsubscribe() -> bool:
            with transaction(self._w) as conn:
                found = conn.execute(*forget).rowcount > 0
                conn.execute(*drop)
                return found

        return await self._write(_unsubscribe)

    async def get_chat(self, chat_id: int) -> ChatRecord | None:
        text, values = sql.statement(sql.GET_CHAT, "qmark", prefix=CHAT_CURSOR, chat=chat_id)
        rows = await self._rows(text, values)
        return sql.chat_record(rows[0]) if rows else None

    async def chats_after(self, after: int | None, limit: int) -> list[ChatRecord]:
        start = sql.FIRST_CHAT if after is None else after
        text, values = sql.statement(
            sql.CHATS_AFTER, "qmark", prefix=CHAT_CURSOR, after=start, limit=limit
        )
        return [sql.chat_record(r) for r in await self._rows(text, values)]

    async def count_chats(self) -> int:
        rows = await self._rows("SELECT count(*) FROM telegram_chats", ())
        return int(rows[0][0])

    # -- web push subscriptions -----------------------------------------------------

    async def save_push_subscription(self, sub: PushSubscription, limit: int) -> PushSubscription:
        now = sql.now_ms()

        def _save() -> None:
            def run(text: str, **values: Any) -> sqlite3.Cursor:
                statement, params = sql.statement(text, "qmark", **values)
                return conn.execute(statement, params)

            with transaction(self._w) as conn:
                new = run(sql.PUSH_EXISTS, id=sub.id).fetchone() is None
                if new and run(sql.COUNT_PUSH).fetchone()[0] >= limit:
                    raise StoreFullError(f"{limit} push subscriptions are stored already")
                run(
                    sql.SAVE_PUSH,
                    id=sub.id,
                    endpoint=sub.endpoint,
                    p256dh=sub.p256dh,
                    auth=sub.auth,
                    lang=sub.lang,
                    since_seq=sub.since_seq,
                    now=now,
                )
                run(sql.DROP_PUSH_REGIONS, id=sub.id)
                add = sql.statement(sql.ADD_PUSH_REGION, "qmark", region="", id="")[0]
                conn.executemany(add, [(r, sub.id) for r in sorted(set(sub.regions))])

        await self._write(_save)
        saved = await self.push_subscription(sub.id)
        assert saved is not None
        return saved

    async def drop_push_subscription(self, sub_id: str) -> bool:
        def _drop() -> bool:
            with transaction(self._w) as conn:
                for text in (sql.DROP_PUSH_REGIONS, sql.DROP_PUSH):
                    statement, params = sql.statement(text, "qmark", id=sub_id)
                    dropped = conn.execute(statement, params).rowcount > 0
                return dropped

        return await self._write(_drop)

    async def push_subscription(self, sub_id: str) -> PushSubscription | None:
        p = _params()
        found = sql.push_subscriptions(await self._rows(sql.push_by_id_sql(p, sub_id), p.values))
        return found[0] if found else None

    async def push_subscriptions_for(self, regions: Sequence[RegionId]) -> list[PushSubscription]:
        if not regions:
            return []
        p = _params()
        return sql.push_subscriptions(
            await self._rows(sql.push_for_regions_sql(p, regions), p.values)
        )

    async def keep_meta(self, key: str, value: str) -> str:
        keep = sql.statement(sql.KEEP_META, "qmark", key=key, value=value)
        read = sql.statement(sql.READ_META, "qmark", key=key)

        def _keep() -> str:
            with transaction(self._w) as conn:
                conn.execute(*keep)
                return str(conn.execute(*read).fetchone()[0])

        return await self._write(_keep)

    async def count_rows(self, table: str) -> int:
        rows = await self._rows(f"SELECT count(*) FROM {_table(table)}", ())
        return int(rows[0][0])

    async def export_rows(self, table: str, after: Row | None, limit: int) -> list[Row]:
        p = _params()
        statement = sql.export_sql(p, _table(table), after, limit)
        return [tuple(r) for r in await self._rows(statement, p.values)]

    async def import_rows(self, table: str, rows: Sequence[Row]) -> None:
        def _import() -> None:
            with transaction(self._w) as conn:
                insert_rows(conn, _table(table), rows)

        await self._write(_import)

    async def finish_import(self) -> None:
        def _finish() -> None:
            self.epoch = self._w.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]
            self._w.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        await self._write(_finish)


def _table(name: str) -> str:
    if name not in TABLES:
        raise StoreError(f"no table '{name}' to move")
    return name
