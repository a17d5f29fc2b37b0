"""Webhooks on the SQLite store (store.webhooks): writes on the store's writer thread,
reads on its reader pool, statements from store.webhook_rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from tryvoha.domain.events import Seq
from tryvoha.domain.webhooks import Attempt, NewWebhook, WebhookRecord
from tryvoha.store import rows as sql
from tryvoha.store import webhook_rows as wh
from tryvoha.store.sqlite_schema import transaction
from tryvoha.store.webhooks import TooManyWebhooksError, WebhookProgress, cursor_name

T = TypeVar("T")


def _q(text: str, **values: Any) -> tuple[str, list[Any]]:
    return sql.statement(text, "qmark", **values)


class SqliteWebhooks:
    """Mixed into SqliteStore, which provides the plumbing below."""

    if TYPE_CHECKING:

        async def _write(self, fn: Callable[..., T], *args: Any) -> T: ...

        async def _rows(self, statement: str, params: Sequence[Any]) -> list[Any]: ...

        @property
        def _w(self) -> sqlite3.Connection: ...

    async def create_webhook(self, hook: NewWebhook, limit: int) -> WebhookRecord:
        now = sql.now_ms()

        def _create() -> None:
            with transaction(self._w) as conn:
                if conn.execute(wh.COUNT).fetchone()[0] >= limit:
                    raise TooManyWebhooksError(limit)
                conn.execute(*_q(wh.INSERT, now=now, **wh.new_row(hook)))
                conn.execute(*_q(wh.START_CURSOR, name=cursor_name(hook.id), now=now))

        await self._write(_create)
        return (await self.webhooks([hook.id]))[0]

    async def webhooks(self, ids: Sequence[str] | None = None) -> list[WebhookRecord]:
        if ids is None:
            return [wh.record(r) for r in await self._rows(wh.SELECT + wh.ORDER, ())]
        found: list[WebhookRecord] = []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            text = f"{wh.SELECT} WHERE w.id IN ({marks}){wh.ORDER}"
            found.extend(wh.record(r) for r in await self._rows(text, chunk))
        return sorted(found, key=lambda r: (r.created_at, r.id))

    async def count_webhooks(self) -> int:
        return int((await self._rows(wh.COUNT, ()))[0][0])

    async def webhook_versions(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in await self._rows(wh.VERSIONS, ())}

    async def remove_webhook(self, webhook_id: str) -> bool:
        def _remove() -> bool:
            with transaction(self._w) as conn:
                gone = conn.execute(*_q(wh.DELETE, id=webhook_id)).rowcount > 0
                conn.execute(*_q(wh.DELETE_ATTEMPTS, id=webhook_id))
                conn.execute(*_q(wh.DELETE_CURSOR, name=cursor_name(webhook_id)))
                return gone

        return await self._write(_remove)

    async def _update(self, text: str, **values: Any) -> bool:
        def _run() -> bool:
            with transaction(self._w) as conn:
                return conn.execute(*_q(text, **values)).rowcount > 0

        return await self._write(_run)

    async def resume_webhook(self, webhook_id: str) -> bool:
        return await self._update(wh.RESUME, id=webhook_id)

    async def request_replay(self, webhook_id: str, from_seq: Seq) -> bool:
        return await self._update(wh.ASK_REPLAY, seq=from_seq, id=webhook_id)

    async def webhook_attempts(self, webhook_id: str, limit: int) -> list[Attempt]:
        text, values = _q(wh.ATTEMPTS, id=webhook_id, limit=limit)
        return [wh.attempt(r) for r in await self._rows(text, values)]

    async def last_attempt_numbers(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in await self._rows(wh.LAST_ATTEMPTS, ())}

    async def record_webhooks(self, progress: WebhookProgress, lease: str, holder: str) -> bool:
        now = sql.now_ms()
        holds = _q(sql.HOLDS_LEASE, name=lease, holder=holder, now=now)
        plan = wh.progress_plan(progress, "qmark", None, now)

        def _record() -> bool:
            with transaction(self._w) as conn:
                if conn.execute(*holds).fetchone() is None:
                    return False
                for text, rows in plan:
                    conn.executemany(text, rows)
                return True

        return await self._write(_record)

    async def take_replay(self, webhook_id: str, from_seq: Seq, lease: str, holder: str) -> bool:
        now = sql.now_ms()
        holds = _q(sql.HOLDS_LEASE, name=lease, holder=holder, now=now)
        take = _q(wh.TAKE_REPLAY, id=webhook_id, seq=from_seq)
        name = cursor_name(webhook_id)
        rewind = _q(wh.REWIND_CURSOR, name=name, seq=max(0, from_seq - 1), now=now)

        def _take() -> bool:
            with transaction(self._w) as conn:
                if conn.execute(*holds).fetchone() is None:
                    return False
                if conn.execute(*take).rowcount == 0:
                    return False
                conn.execute(*rewind)
                return True

        return await self._write(_take)
