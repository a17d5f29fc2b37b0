"""Webhooks on the PostgreSQL store (store.webhooks), statements from store.webhook_rows.
Times the delivery records are the database's clock, as the leases' are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tryvoha.domain.events import Seq
from tryvoha.domain.webhooks import Attempt, NewWebhook, WebhookRecord
from tryvoha.store import rows as sql
from tryvoha.store import webhook_rows as wh
from tryvoha.store.webhooks import TooManyWebhooksError, WebhookProgress, cursor_name

if TYPE_CHECKING:
    import asyncpg

NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint"
HOLDS = sql.HOLDS_LEASE + " FOR SHARE"  # and no one takes the lease until this commits


def _q(text: str, **values: Any) -> tuple[str, list[Any]]:
    return sql.statement(text, "numeric", NOW_MS, **values)


class PostgresWebhooks:
    """Mixed into PostgresStore, which provides the pool."""

    if TYPE_CHECKING:

        @property
        def pool(self) -> asyncpg.Pool: ...

    async def create_webhook(self, hook: NewWebhook, limit: int) -> WebhookRecord:
        async with self.pool.acquire() as conn, conn.transaction():
            # one creator at a time, so two cannot both pass the limit
            await conn.execute("LOCK TABLE webhooks IN SHARE ROW EXCLUSIVE MODE")
            if await conn.fetchval(wh.COUNT) >= limit:
                raise TooManyWebhooksError(limit)
            text, values = _q(wh.INSERT, **wh.new_row(hook))
            await conn.execute(text, *values)
            text, values = _q(wh.START_CURSOR, name=cursor_name(hook.id))
            await conn.execute(text, *values)
        return (await self.webhooks([hook.id]))[0]

    async def webhooks(self, ids: Sequence[str] | None = None) -> list[WebhookRecord]:
        if ids is None:
            rows = await self.pool.fetch(wh.SELECT + wh.ORDER)
        else:
            rows = await self.pool.fetch(f"{wh.SELECT} WHERE w.id = ANY($1){wh.ORDER}", list(ids))
        return [wh.record(tuple(r)) for r in rows]

    async def count_webhooks(self) -> int:
        return int(await self.pool.fetchval(wh.COUNT))

    async def webhook_versions(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in await self.pool.fetch(wh.VERSIONS)}

    async def remove_webhook(self, webhook_id: str) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            gone = await conn.fetch(*_flat(_q(wh.DELETE + " RETURNING id", id=webhook_id)))
            await conn.execute(*_flat(_q(wh.DELETE_ATTEMPTS, id=webhook_id)))
            await conn.execute(*_flat(_q(wh.DELETE_CURSOR, name=cursor_name(webhook_id))))
            return bool(gone)

    async def _update(self, text: str, **values: Any) -> bool:
        statement, params = _q(text + " RETURNING id", **values)
        return bool(await self.pool.fetch(statement, *params))

    async def resume_webhook(self, webhook_id: str) -> bool:
        return await self._update(wh.RESUME, id=webhook_id)

    async def request_replay(self, webhook_id: str, from_seq: Seq) -> bool:
        return await self._update(wh.ASK_REPLAY, seq=from_seq, id=webhook_id)

    async def webhook_attempts(self, webhook_id: str, limit: int) -> list[Attempt]:
        text, values = _q(wh.ATTEMPTS, id=webhook_id, limit=limit)
        rows: list[Any] = await self.pool.fetch(text, *values)
        return [wh.attempt(r) for r in rows]

    async def last_attempt_numbers(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in await self.pool.fetch(wh.LAST_ATTEMPTS)}

    async def record_webhooks(self, progress: WebhookProgress, lease: str, holder: str) -> bool:
        holds, held = _q(HOLDS, name=lease, holder=holder)
        plan = wh.progress_plan(progress, "numeric", NOW_MS, 0)
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetch(holds, *held):
                return False
            for text, rows in plan:
                await conn.executemany(text, rows)
            return True

    async def take_replay(self, webhook_id: str, from_seq: Seq, lease: str, holder: str) -> bool:
        holds, held = _q(HOLDS, name=lease, holder=holder)
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetch(holds, *held):
                return False
            taken = await conn.fetch(
                *_flat(_q(wh.TAKE_REPLAY + " RETURNING id", id=webhook_id, seq=from_seq))
            )
            if not taken:
                return False
            rewind = _q(wh.REWIND_CURSOR, name=cursor_name(webhook_id), seq=max(0, from_seq - 1))
            await conn.execute(*_flat(rewind))
            return True


def _flat(statement: tuple[str, list[Any]]) -> list[Any]:
    return [statement[0], *statement[1]]
