"""The PostgreSQL store, for many machines: every writer and reader connects to one database.

The same tables as SQLite (store.rows), through asyncpg: a small pool per process, every
statement awaited. The log's writes are in postgres_log; what is here reads, keeps
snapshots, tokens and the audit log, and moves rows in and out for migrate-store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson

from tryvoha.domain.alerts import Alert, ThreatType
from tryvoha.domain.events import Event, PendingEvent, Seq
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
from tryvoha.store.postgres_log import (
    PgTransaction,
    head,
    insert_audit,
    insert_events,
    lock_log,
)
from tryvoha.store.postgres_webhooks import PostgresWebhooks
from tryvoha.store.schema import Found, State, judge, refuse, upgrade
from tryvoha.store.urls import redact

if TYPE_CHECKING:
    from tryvoha.store.postgres_log import Conn

log = logging.getLogger(__name__)

POOL_SIZE = 4
LOCK_TIMEOUT = "30s"  # as long as SQLite's busy_timeout
IDEMPOTENCY_RETENTION_MS = 24 * 3600 * 1000  # a retry later than a day is a new request
MAINTAIN_EVERY = 1_000  # commits between forgetting old idempotency keys
CONNECT_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint"


def _params() -> sql.Params:
    return sql.Params("numeric")


class PostgresStore(PostgresWebhooks):
    def __init__(
        self, url: str, pool_size: int = POOL_SIZE, lock_timeout: str = LOCK_TIMEOUT
    ) -> None:
        self.url = url
        self._lock_timeout = lock_timeout
        self.epoch = ""
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._commits = 0
        self._upkeep: asyncio.Task[None] | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the store is not open")
        return self._pool

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self._pool_size,
                server_settings={"lock_timeout": self._lock_timeout},
            )
        except CONNECT_ERRORS as e:
            raise StoreError(f"cannot connect to {redact(self.url)}: {e}") from None
        try:
            schema = await self._found()
            if schema.state is State.EMPTY:  # a new database: the schema is made here, at once
                await asyncio.to_thread(upgrade, self.url)
                schema = await self._found()
            refuse(schema, self.url)
            self.epoch = await self.pool.fetchval("SELECT value FROM meta WHERE key = 'epoch'")
            await self._forget_idempotency()
        except BaseException:
            await self.close()
            raise

    async def _found(self) -> Found:
        async with self.pool.acquire() as conn:
            return await found_on(conn)

    async def close(self) -> None:
        if self._upkeep is not None:
            await asyncio.gather(self._upkeep, return_exceptions=True)
            self._upkeep = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _rows(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(await self.pool.fetch(statement, *params))

    # -- the log --------------------------------------------------------------

    async def last_seq(self) -> Seq:
        return Seq(await self.pool.fetchval("SELECT coalesce(max(seq), 0) FROM events"))

    async def writable(self) -> bool:
        return bool(await self.pool.fetchval("SELECT NOT pg_is_in_recovery()"))

    async def read_events(self, after: Seq, limit: int) -> list[bytes]:
        rows = await self._rows(
            "SELECT payload FROM events WHERE seq > $1 ORDER BY seq LIMIT $2", (after, limit)
        )
        return [r[0] for r in rows]

    async def events_by_issuer(self, issuer: str, limit: int) -> list[bytes]:
        rows = await self._rows(
            "SELECT payload FROM events WHERE issuer = $1 ORDER BY seq DESC LIMIT $2",
            (issuer, limit),
        )
        return [r[0] for r in rows]

    async def events_of_alerts(self, alert_ids: Sequence[str]) -> list[bytes]:
        rows = await self._rows(
            "SELECT payload FROM events WHERE alert_id = ANY($1) ORDER BY seq",
            (list(dict.fromkeys(alert_ids)),),
        )
        return [r[0] for r in rows]

    async def begin_write(
        self, after: Seq, principal: str | None = None, idempotency_key: str | None = None
    ) -> PgTransaction:
        return await PgTransaction(self.pool, self._committed).begin(
            after, principal, idempotency_key
        )

    def _committed(self) -> None:
        self._commits += 1
        if self._commits % MAINTAIN_EVERY == 0 and (self._upkeep is None or self._upkeep.done()):
            self._upkeep = asyncio.get_running_loop().create_task(self._forget_idempotency())

    async def _forget_idempotency(self) -> None:
        try:
            await self.pool.execute(
                "DELETE FROM idempotency WHERE created_ms < $1",
                sql.now_ms() - IDEMPOTENCY_RETENTION_MS,
            )
        except CONNECT_ERRORS:  # upkeep: the next one will do
            log.exception("could not forget old idempotency keys")

    async def append_batch(self, events: Sequence[PendingEvent]) -> Seq:
        async with self.pool.acquire() as conn, conn.transaction():
            await lock_log(conn)
            last = await head(conn)
            numbered = [Event.committed(Seq(last + i), p) for i, p in enumerate(events, start=1)]
            await insert_events(conn, numbered, last)
            return numbered[-1].seq if numbered else last

    # -- snapshots --------------------------------------------------------------

    async def load_snapshot(self) -> tuple[Seq, bytes] | None:
        rows = await self._rows("SELECT seq, payload FROM snapshots ORDER BY seq DESC LIMIT 1")
        return (Seq(rows[0][0]), bytes(rows[0][1])) if rows else None

    async def save_snapshot(self, seq: Seq, payload: bytes) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO snapshots (seq, payload, created_ms) VALUES ($1, $2, $3)"
                " ON CONFLICT (seq) DO UPDATE SET payload = excluded.payload,"
                " created_ms = excluded.created_ms",
                seq,
                payload,
                sql.now_ms(),
            )
            await conn.execute("DELETE FROM snapshots WHERE seq < $1", seq)

    # -- read models --------------------------------------------------------------

    async def get_alert(self, alert_id: str) -> Alert | None:
        rows = await self._rows("SELECT payload FROM alerts WHERE id = $1", (alert_id,))
        return alert_from_json(orjson.loads(rows[0][0])) if rows else None

    async def has_alert_ids(self, alert_ids: Sequence[str]) -> set[str]:
        rows = await self._rows("SELECT id FROM alerts WHERE id = ANY($1)", (list(alert_ids),))
        return {r[0] for r in rows}

    async def alert_span(self, issuer: str) -> tuple[datetime, datetime | None] | None:
        rows = await self._rows(
            "SELECT min(started_ms), max(ended_ms), count(*) - count(ended_ms)"
            " FROM alerts WHERE issuer = $1",
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
        created = sql.now_ms()
        expires = None if expires_at is None else sql.to_ms(expires_at)
        detail = f"name={name} role={role} scope={','.join(scope)}"
        if expires is not None:
            detail += f" expires={sql.from_ms(expires).isoformat()}"
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                token_id = await conn.fetchval(
                    "INSERT INTO tokens (name, role, scope, hash, created_ms, expires_ms)"
                    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    *(name, role.value, ",".join(scope), token_hash, created, expires),
                )
                await conn.execute(sql.BUMP_TOKENS)
                entry = AuditEntry(sql.from_ms(created), "cli", "token.create", "ok", detail)
                await insert_audit(conn, [entry])
        except asyncpg.UniqueViolationError:
            raise TokenExistsError(f"a token named '{name}' exists already") from None
        return TokenRecord(
            int(token_id),
            name,
            role,
            tuple(scope),
            sql.from_ms(created),
            None,
            None if expires is None else sql.from_ms(expires),
        )

    async def list_tokens(self) -> list[TokenRecord]:
        rows = await self._rows(f"SELECT {sql.TOKEN_COLUMNS} FROM tokens AS t ORDER BY t.id")
        return [sql.token_row(r) for r in rows]

    async def revoke_token(self, name: str) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            revoked = await conn.fetch(
                "UPDATE tokens SET revoked_ms = $1 WHERE name = $2 AND revoked_ms IS NULL"
                " RETURNING id",
                sql.now_ms(),
                name,
            )
            if revoked:
                await conn.execute(
                    "DELETE FROM token_overlap WHERE token_id = $1", revoked[0]["id"]
                )
                await conn.execute(sql.BUMP_TOKENS)
                entry = AuditEntry(datetime.now(UTC), "cli", "token.revoke", "ok", f"name={name}")
                await insert_audit(conn, [entry])
        return bool(revoked)

    async def rotate_token(
        self, name: str, new_hash: str, overlap_seconds: float
    ) -> TokenRecord | None:
        now = sql.now_ms()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT {sql.TOKEN_COLUMNS}, t.hash FROM tokens AS t"
                f" WHERE t.name = $1 AND {sql.USABLE.format(now='$2')} FOR UPDATE",
                name,
                now,
            )
            if row is None:
                return None
            until = now + int(overlap_seconds * 1000)
            await conn.execute(
                "INSERT INTO token_overlap (hash, token_id, until_ms) VALUES ($1, $2, $3)",
                row["hash"],
                row["id"],
                until,
            )
            await conn.execute("UPDATE tokens SET hash = $1 WHERE id = $2", new_hash, row["id"])
            await conn.execute(sql.BUMP_TOKENS)
            detail = f"name={name} old secret valid until {sql.from_ms(until).isoformat()}"
            entry = AuditEntry(sql.from_ms(now), "cli", "token.rotate", "ok", detail)
            await insert_audit(conn, [entry])
            return sql.token_row(tuple(row)[:-1])

    async def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        text, values = sql.statement(
            sql.TOKEN_BY_HASH, "numeric", hash=token_hash, hash2=token_hash, now=sql.now_ms()
        )
        rows = await self._rows(text, values)
        return sql.token_row(rows[0]) if rows else None

    async def touch_token(self, name: str) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE tokens SET last_used_ms = $1 WHERE name = $2", sql.now_ms(), name
            )

    async def tokens_version(self) -> int:
        rows = await self._rows("SELECT value FROM meta WHERE key = 'tokens_version'")
        return int(rows[0][0]) if rows else 0

    async def audit(self, entries: Sequence[AuditEntry]) -> None:
        async with self.pool.acquire() as conn:
            await insert_audit(conn, entries)

    async def read_audit(self, query: AuditQuery) -> list[AuditEntry]:
        rows = await self._rows(*sql.audit_query(query, "numeric"))
        return [AuditEntry(sql.from_ms(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

    # -- transfer ---------------------------------------------------------------------

    # -- declares waiting for a second person -----------------------------------------

    async def add_pending(self, pending: PendingDeclare, audit: AuditEntry) -> None:
        places = ", ".join(f"${i}" for i in range(1, 11))
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"INSERT INTO pending ({sql.PENDING_COLUMNS}) VALUES ({places})",
                *sql.pending_values(pending),
            )
            await insert_audit(conn, [audit])

    async def get_pending(self, pending_id: str) -> PendingDeclare | None:
        rows = await self._rows(
            f"SELECT {sql.PENDING_COLUMNS} FROM pending WHERE id = $1", (pending_id,)
        )
        return sql.pending_row(rows[0]) if rows else None

    async def list_pending(self, limit: int) -> list[PendingDeclare]:
        rows = await self._rows(
            f"SELECT {sql.PENDING_COLUMNS} FROM pending ORDER BY created_ms DESC LIMIT $1",
            (limit,),
        )
        return [sql.pending_row(r) for r in rows]

    async def decide_pending(
        self, pending_id: str, outcome: str, by: str, seq: Seq | None, audit: AuditEntry
    ) -> bool:
        text, values = sql.statement(
            sql.DECIDE_PENDING + " RETURNING id",
            "numeric",
            outcome=outcome,
            by=by,
            now=sql.now_ms(),
            seq=seq,
            id=pending_id,
        )
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetch(text, *values):
                return False
            await insert_audit(conn, [audit])
            return True

    # -- the channels' delivery state ----------------------------------------------
    # Times are the database's (`NOW_MS`): the writers of many machines share one clock.

    async def take_lease(self, name: str, holder: str, seconds: float) -> bool:
        text, values = sql.statement(
            sql.TAKE_LEASE + " RETURNING holder",
            "numeric",
            NOW_MS,
            name=name,
            holder=holder,
            ttl=int(seconds * 1000),
        )
        async with self.pool.acquire() as conn:
            return bool(await conn.fetch(text, *values))

    async def drop_lease(self, name: str, holder: str) -> None:
        text, values = sql.statement(sql.DROP_LEASE, "numeric", name=name, holder=holder)
        async with self.pool.acquire() as conn:
            await conn.execute(text, *values)

    async def read_cursors(self, prefix: str) -> dict[str, Seq]:
        found = await self._rows(
            "SELECT name, seq FROM cursors WHERE left(name, $1) = $2", (len(prefix), prefix)
        )
        return {row[0]: Seq(row[1]) for row in found}

    async def move_cursors(self, moves: Mapping[str, Seq], lease: str, holder: str) -> bool:
        holds = sql.statement(sql.HOLDS_LEASE, "numeric", NOW_MS, name="", holder="")[0]
        holds += " FOR SHARE"  # and no one takes it until this commits
        move = sql.statement(sql.MOVE_CURSOR, "numeric", NOW_MS, name="", seq=0)[0]
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetch(holds, lease, holder):
                return False
            await conn.executemany(move, list(moves.items()))
            return True

    async def drop_cursors(self, names: Sequence[str]) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute("DELETE FROM cursors WHERE name = ANY($1::text[])", list(names))

    # -- the Telegram bot's subscribers ------------------------------------------------

    async def subscribe_chat(self, chat_id: int, region_id: RegionId, lang: str, seq: Seq) -> None:
        subscribe = sql.statement(
            sql.SUBSCRIBE_CHAT, "numeric", NOW_MS, chat=chat_id, region=region_id, lang=lang
        )
        move = sql.statement(
            sql.MOVE_CURSOR, "numeric", NOW_MS, name=CHAT_CURSOR + str(chat_id), seq=seq
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(subscribe[0], *subscribe[1])
            await conn.execute(move[0], *move[1])

    async def set_chat_language(self, chat_id: int, lang: str) -> bool:
        text, values = sql.statement(sql.CHAT_LANGUAGE, "numeric", chat=chat_id, lang=lang)
        return await self.pool.execute(text, *values) != "UPDATE 0"

    async def unsubscribe_chat(self, chat_id: int) -> bool:
        forget = sql.statement(sql.UNSUBSCRIBE_CHAT, "numeric", chat=chat_id)
        drop = sql.statement(sql.DROP_CURSOR, "numeric", name=CHAT_CURSOR + str(chat_id))
        async with self.pool.acquire() as conn, conn.transaction():
            found = await conn.execute(forget[0], *forget[1]) != "DELETE 0"
            await conn.execute(drop[0], *drop[1])
        return found

    async def get_chat(self, chat_id: int) -> ChatRecord | None:
        text, values = sql.statement(sql.GET_CHAT, "numeric", prefix=CHAT_CURSOR, chat=chat_id)
        rows = await self._rows(text, values)
        return sql.chat_record(rows[0]) if rows else None

    async def chats_after(self, after: int | None, limit: int) -> list[ChatRecord]:
        start = sql.FIRST_CHAT if after is None else after
        text, values = sql.statement(
            sql.CHATS_AFTER, "numeric", prefix=CHAT_CURSOR, after=start, limit=limit
        )
        return [sql.chat_record(r) for r in await self._rows(text, values)]

    async def count_chats(self) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM telegram_chats"))

    # -- web push subscriptions -----------------------------------------------------

    async def save_push_subscription(self, sub: PushSubscription, limit: int) -> PushSubscription:
        def run(text: str, **values: Any) -> tuple[str, list[Any]]:
            return sql.statement(text, "numeric", NOW_MS, **values)

        async with self.pool.acquire() as conn, conn.transaction():
            new = await conn.fetchval(*_flat(run(sql.PUSH_EXISTS, id=sub.id))) is None
            if new and await conn.fetchval(sql.COUNT_PUSH) >= limit:
                raise StoreFullError(f"{limit} push subscriptions are stored already")
            save = run(
                sql.SAVE_PUSH,
                id=sub.id,
                endpoint=sub.endpoint,
                p256dh=sub.p256dh,
                auth=sub.auth,
                lang=sub.lang,
                since_seq=sub.since_seq,
            )
            await conn.execute(*_flat(save))  # locks the row: one save of it at a time
            await conn.execute(*_flat(run(sql.DROP_PUSH_REGIONS, id=sub.id)))
            add = run(sql.ADD_PUSH_REGION, region="", id="")[0]
            await conn.executemany(add, [(r, sub.id) for r in sorted(set(sub.regions))])
        saved = await self.push_subscription(sub.id)
        assert saved is not None
        return saved

    async def drop_push_subscription(self, sub_id: str) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(*_flat(sql.statement(sql.DROP_PUSH_REGIONS, "numeric", id=sub_id)))
            done = await conn.execute(*_flat(sql.statement(sql.DROP_PUSH, "numeric", id=sub_id)))
        return str(done) != "DELETE 0"

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
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                *_flat(sql.statement(sql.KEEP_META, "numeric", key=key, value=value))
            )
            return str(
                await conn.fetchval(*_flat(sql.statement(sql.READ_META, "numeric", key=key)))
            )

    async def count_rows(self, table: str) -> int:
        return int(await self.pool.fetchval(f"SELECT count(*) FROM {_table(table)}"))

    async def export_rows(self, table: str, after: Row | None, limit: int) -> list[Row]:
        p = _params()
        statement = sql.export_sql(p, _table(table), after, limit)
        return [tuple(r) for r in await self._rows(statement, p.values)]

    async def import_rows(self, table: str, rows: Sequence[Row]) -> None:
        columns = TABLES[_table(table)]
        async with self.pool.acquire() as conn, conn.transaction():
            if table == "meta":  # the target has its own epoch row: the source's wins
                await conn.executemany(
                    "INSERT INTO meta (key, value) VALUES ($1, $2)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    rows,
                )
                return
            if table == "events" and rows:
                await lock_log(conn)
                last = await head(conn)
                if rows[0][0] != last + 1 or rows[-1][0] != last + len(rows):
                    raise StoreError(
                        f"event {rows[0][0]} does not follow {last}: the log takes no gaps"
                    )
            await conn.copy_records_to_table(table, records=rows, columns=columns)

    async def finish_import(self) -> None:
        async with self.pool.acquire() as conn:
            for table in ("tokens", "audit"):  # ids were copied: the next is after them
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" coalesce(max(id), 0) + 1, false) FROM {table}"
                )
            self.epoch = await conn.fetchval("SELECT value FROM meta WHERE key = 'epoch'")


async def found_on(conn: Conn) -> Found:
    """The database's schema, as store.schema judges it."""
    row = await conn.fetchrow(
        "SELECT to_regclass('alembic_version') IS NOT NULL,"
        " (SELECT count(*) FROM pg_tables WHERE schemaname = current_schema())"
    )
    assert row is not None
    revision = None
    if row[0]:
        revision = await conn.fetchval("SELECT version_num FROM alembic_version")
    return judge(revision, int(row[1]))


def _flat(statement: tuple[str, list[Any]]) -> tuple[Any, ...]:
    """A statement and its values as asyncpg's positional arguments."""
    return (statement[0], *statement[1])


def _table(name: str) -> str:
    if name not in TABLES:
        raise StoreError(f"no table '{name}' to move")
    return name
