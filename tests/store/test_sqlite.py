from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import KYIV_CITY, LVIV
from tests.support.server import timeout
from tryvoha.domain.alerts import Alert, AlertId, AlertLevel, ThreatType
from tryvoha.domain.events import Event, EventType, PendingEvent, Seq
from tryvoha.domain.regions import RegionId
from tryvoha.domain.scope import Role
from tryvoha.protocol.wire import decode_event
from tryvoha.store import StoreError, open_store, sqlite_log
from tryvoha.store.base import HistoryQuery, IdempotencyRecord
from tryvoha.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio
T0 = datetime(2024, 11, 13, 5, 0, tzinfo=UTC)


def alert(
    n: int, region: RegionId = LVIV, start: datetime = T0, ended: datetime | None = None
) -> Alert:
    return Alert(
        AlertId(f"a{n:03d}"),
        region,
        ThreatType.AIR_RAID,
        AlertLevel.RED,
        (),
        None,
        start,
        start,
        ended,
        "test",
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(f"sqlite:///{tmp_path / 'log.db'}")
    await s.open()
    yield s
    await s.close()


async def test_the_log_is_durable_wal_and_append_only(store: SqliteStore) -> None:
    tx = await store.begin_write(Seq(0))
    await tx.commit([Event(Seq(1), EventType.DECLARED, T0, "test", alert(1))], None)
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET issuer = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM events")
    conn.close()
    assert await store.last_seq() == 1


async def test_write_connections_use_synchronous_full(store: SqliteStore) -> None:
    # synchronous is per connection: ask the writer thread's and the engine's own
    level = await store._write(lambda: store._w.execute("PRAGMA synchronous").fetchone()[0])
    assert level == 2  # FULL
    assert store._log is not None
    assert store._log.conn.execute("PRAGMA synchronous").fetchone()[0] == 2


def hold_the_lock(store: SqliteStore) -> sqlite3.Connection:
    """Another connection (another process, an import) holding the log's write lock."""
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


async def test_an_engine_write_waits_for_the_lock_while_the_loop_serves(
    store: SqliteStore,
) -> None:
    other = hold_the_lock(store)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(tick())
    begun = asyncio.create_task(store.begin_write(Seq(0)))
    await asyncio.sleep(0.1)
    assert not begun.done()
    assert ticks > 10  # the wait is a sleep on the loop, not inside SQLite
    other.execute("INSERT INTO events VALUES (1, 'alert.declared', 0, 'a', 'r', 'x', x'7b7d')")
    other.execute("COMMIT")
    tx = await asyncio.wait_for(begun, 5)
    ticker.cancel()
    assert tx.tail == [b"{}"]  # what the other connection committed meanwhile
    await tx.commit([Event(Seq(2), EventType.DECLARED, T0, "test", alert(2))], None)
    assert await store.last_seq() == 2
    other.close()


async def test_a_lock_held_too_long_is_a_clear_error_and_leaves_nothing_open(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_log, "LOCK_WAIT_SECONDS", 0.05)
    other = hold_the_lock(store)
    with pytest.raises(StoreError, match="locked"):
        await store.begin_write(Seq(0))
    cancelled = asyncio.create_task(store.begin_write(Seq(0)))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    other.rollback()
    other.close()
    assert store._log is not None and not store._log.conn.in_transaction
    tx = await store.begin_write(Seq(0))
    await tx.commit([Event(Seq(1), EventType.DECLARED, T0, "test", alert(1))], None)
    assert await store.last_seq() == 1


def in_the_database_file(store: SqliteStore) -> int:
    """Events checkpointed: immutable=1 reads the database file alone, not the WAL."""
    ro = sqlite3.connect(f"file:{store.path}?immutable=1", uri=True)
    try:
        return int(ro.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        ro.close()


async def commit_events(store: SqliteStore, first: int, last: int) -> None:
    for n in range(first, last + 1):
        tx = await store.begin_write(Seq(n - 1))
        await tx.commit([Event(Seq(n), EventType.DECLARED, T0, "test", alert(n))], None)


async def until_checkpointed(store: SqliteStore, events: int, seconds: float) -> float:
    started = time.monotonic()
    while in_the_database_file(store) < events and time.monotonic() - started < seconds:
        await asyncio.sleep(0.01)
    assert in_the_database_file(store) == events  # the writer thread checkpointed
    return time.monotonic() - started


async def test_checkpoints_run_off_the_write_path_once_writes_pause(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert store._log is not None
    assert store._log.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    monkeypatch.setattr(sqlite_log, "MAINTAIN_EVERY", 5)
    monkeypatch.setattr(sqlite_log, "IDLE_SECONDS", 1.0)
    await store._write(store._maintain_now)  # the schema, into the database file
    await commit_events(store, 1, 4)
    assert in_the_database_file(store) == 0  # no checkpoint at these commits
    await commit_events(store, 5, 5)
    assert in_the_database_file(store) == 0  # not during the wave
    assert await until_checkpointed(store, 5, timeout(10)) >= 0.5  # after the pause


async def test_a_wave_that_never_pauses_is_checkpointed_anyway(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_log, "MAINTAIN_EVERY", 3)
    monkeypatch.setattr(sqlite_log, "MAINTAIN_AT_MOST", 6)
    monkeypatch.setattr(sqlite_log, "IDLE_SECONDS", 600)
    await store._write(store._maintain_now)
    await commit_events(store, 1, 6)
    await until_checkpointed(store, 6, timeout(10))


async def test_a_gap_or_a_duplicate_seq_is_refused(store: SqliteStore) -> None:
    tx = await store.begin_write(Seq(0))
    with pytest.raises(StoreError, match="no gaps"):
        await tx.commit([Event(Seq(2), EventType.DECLARED, T0, "test", alert(1))], None)
    assert await store.last_seq() == 0
    tx = await store.begin_write(Seq(0))
    await tx.commit([Event(Seq(1), EventType.DECLARED, T0, "test", alert(1))], None)
    tx = await store.begin_write(Seq(0))
    assert len(tx.tail) == 1  # the event committed since `after`
    with pytest.raises(StoreError):
        await tx.commit([Event(Seq(1), EventType.DECLARED, T0, "test", alert(2))], None)
    assert await store.last_seq() == 1


async def test_idempotency_answer_is_stored_with_the_events(store: SqliteStore) -> None:
    record = IdempotencyRecord("lviv", "k1", "fp", 201, b'{"seq":1}')
    tx = await store.begin_write(Seq(0), "lviv", "k1")
    assert tx.prior_answer is None
    await tx.commit([Event(Seq(1), EventType.DECLARED, T0, "lviv", alert(1))], record)
    tx = await store.begin_write(Seq(1), "lviv", "k1")
    assert tx.prior_answer == record
    await tx.rollback()
    other = await store.begin_write(Seq(1), "kyiv", "k1")  # keys are per token
    assert other.prior_answer is None
    await other.rollback()


async def test_idempotency_keys_are_forgotten_after_a_day(store: SqliteStore) -> None:
    tx = await store.begin_write(Seq(0), "lviv", "old")
    old = IdempotencyRecord("lviv", "old", "fp", 201, b"{}")
    await tx.commit([Event(Seq(1), EventType.DECLARED, T0, "lviv", alert(1))], old)
    tx = await store.begin_write(Seq(1), "lviv", "new")
    new = IdempotencyRecord("lviv", "new", "fp", 201, b"{}")
    await tx.commit([Event(Seq(2), EventType.DECLARED, T0, "lviv", alert(2))], new)
    other = sqlite3.connect(store.path, isolation_level=None)
    day_and_a_bit = (24 * 3600 + 60) * 1000
    other.execute(
        "UPDATE idempotency SET created_ms = created_ms - ? WHERE key = 'old'", (day_and_a_bit,)
    )
    other.close()
    await store._write(store._maintain_now)
    for key, kept in (("old", None), ("new", new)):
        tx = await store.begin_write(Seq(2), "lviv", key)
        assert tx.prior_answer == kept
        await tx.rollback()


async def test_history_is_newest_first_and_paged(store: SqliteStore) -> None:
    pending = []
    for n in range(5):
        start = T0 + timedelta(hours=n)
        pending.append(
            PendingEvent(
                EventType.DECLARED, start, "t", alert(n, LVIV if n % 2 else KYIV_CITY, start)
            )
        )
    await store.append_batch(pending)
    page = await store.alert_history(HistoryQuery(limit=2))
    assert [a.id for a in page.alerts] == ["a004", "a003"] and page.next_cursor
    page2 = await store.alert_history(HistoryQuery(limit=2, cursor=page.next_cursor))
    assert [a.id for a in page2.alerts] == ["a002", "a001"]
    lviv = await store.alert_history(HistoryQuery(regions=frozenset({LVIV})))
    assert [a.id for a in lviv.alerts] == ["a003", "a001"]
    window = await store.alert_history(HistoryQuery(until=T0 + timedelta(hours=2)))
    assert [a.id for a in window.alerts] == ["a001", "a000"]


async def test_tokens_are_stored_hashed_and_revocable(store: SqliteStore) -> None:
    record = await store.create_token("lviv", Role.ISSUER, [LVIV], "hash1")
    assert (await store.token_by_hash("hash1")) == record
    assert await store.revoke_token("lviv") and not await store.revoke_token("lviv")
    revoked = await store.token_by_hash("hash1")
    assert revoked is not None and revoked.revoked_at is not None
    audit = await store.read_audit("cli", 10)
    assert [a.action for a in audit] == ["token.revoke", "token.create"]


async def test_bad_urls_and_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unknown store"):
        open_store("mysql://x")
    with pytest.raises(StoreError, match="not a SQLite URL"):
        open_store("sqlite://relative.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    store = open_store(f"sqlite:///{junk}")
    with pytest.raises(StoreError, match="cannot open"):
        await store.open()


async def test_events_of_alerts_are_every_event_of_those_alerts_in_seq_order(
    store: SqliteStore,
) -> None:
    first, second = alert(1), alert(2, KYIV_CITY)
    later = T0 + timedelta(minutes=5)
    tx = await store.begin_write(Seq(0))
    await tx.commit(
        [
            Event(Seq(1), EventType.DECLARED, T0, "test", first),
            Event(Seq(2), EventType.DECLARED, T0, "test", second),
            Event(Seq(3), EventType.UPDATED, later, "test", first),
            Event(Seq(4), EventType.CLEARED, later, "test", second),
        ],
        None,
    )
    # the import path writes through another connection; its events are found too
    await store.append_batch([PendingEvent(EventType.CLEARED, later, "test", first)])
    mine = [decode_event(raw) for raw in await store.events_of_alerts(["a001"])]
    assert [(e.seq, e.type) for e in mine] == [
        (1, EventType.DECLARED),
        (3, EventType.UPDATED),
        (5, EventType.CLEARED),
    ]
    both = await store.events_of_alerts(["a002", "a001", "a002"])
    assert [decode_event(raw).seq for raw in both] == [1, 2, 3, 4, 5]
    assert await store.events_of_alerts(["nope"]) == []
    assert await store.events_of_alerts([]) == []
    # the query is answered from the index, not by reading the whole log
    plan = (
        sqlite3.connect(store.path)
        .execute(
            "EXPLAIN QUERY PLAN SELECT seq, payload FROM events WHERE alert_id IN (?)", ("a001",)
        )
        .fetchall()
    )
    assert any("events_by_alert" in str(row) for row in plan)
