"""Reading (and, to stage a test, changing) a store straight through its own driver: an
independent witness of what the log holds, on SQLite or PostgreSQL."""

from __future__ import annotations

import itertools
import re
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from tests.support.postgres import run_sync
from tryvoha.domain.projection import Projection
from tryvoha.protocol.wire import alert_to_json, decode_event


def raw(store_url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement (written with ? placeholders) outside tryvoha; its rows."""
    if store_url.startswith("sqlite:///"):
        path = Path(store_url.removeprefix("sqlite:///"))
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            return [tuple(r) for r in conn.execute(statement, params).fetchall()]
        finally:
            conn.close()
    numbers = itertools.count(1)
    numbered = re.sub(r"\?", lambda _: f"${next(numbers)}", statement)

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(store_url)
        try:
            return [tuple(r) for r in await conn.fetch(numbered, *params)]
        finally:
            await conn.close()

    return run_sync(run())


def read_log(store_url: str) -> list[bytes]:
    rows = raw(store_url, "SELECT seq, payload FROM events ORDER BY seq")
    seqs = [r[0] for r in rows]
    assert seqs == list(range(1, len(seqs) + 1)), "the log has a gap or a duplicate"
    return [bytes(r[1]) for r in rows]


def replay(raws: list[bytes]) -> list[dict[str, object]]:
    """Active alerts after replaying the log from scratch, as the API shows them."""
    projection = Projection()
    for raw_event in raws:
        projection.apply(decode_event(raw_event))
    return [alert_to_json(a) for a in projection.active()]


def seqs_of(raws: list[bytes]) -> list[int]:
    return [int(orjson.loads(r)["seq"]) for r in raws]


# What takes a store made now back to revision 0001 (for tests of `db upgrade`); each
# later revision adds its undoing here.
UNDO_TO_0001 = (
    "DROP INDEX events_by_alert",  # 0002
    "DROP TABLE leases",  # 0003
    "DROP TABLE cursors",
    "DROP TABLE token_overlap",  # 0008
    "ALTER TABLE tokens DROP COLUMN expires_ms",
    "ALTER TABLE tokens DROP COLUMN last_used_ms",
    "DELETE FROM meta WHERE key = 'tokens_version'",
    "DROP TABLE pending",  # 0009
    "DROP TABLE webhook_attempts",  # 0004
    "DROP TABLE webhooks",
    "DROP TABLE telegram_chats",  # 0005
    "DROP TABLE push_regions",  # 0006
    "DROP TABLE push_subscriptions",
)
