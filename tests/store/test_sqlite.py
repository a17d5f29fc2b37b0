from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import LVIV
from tests.support.server import timeout
from tryvoha.domain.alerts import Alert, AlertId, AlertLevel, ThreatType
from tryvoha.domain.events import Event, EventType, Seq
from tryvoha.domain.regions import RegionId
from tryvoha.store import StoreError, sqlite_log
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


async def test_the_log_is_durable_wal(store: SqliteStore) -> None:
    tx = await store.begin_write(Seq(0))
    assert tx.blocks_loop  # its statements run on the loop's thread
    tx.commit_blocking([Event(Seq(1), EventType.DECLARED, T0, "test", alert(1))], None)
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
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
    tx.commit_blocking([Event(Seq(2), EventType.DECLARED, T0, "test", alert(2))], None)
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
    tx.commit_blocking([Event(Seq(1), EventType.DECLARED, T0, "test", alert(1))], None)
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
        tx.commit_blocking([Event(Seq(n), EventType.DECLARED, T0, "test", alert(n))], None)


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


async def test_events_of_an_alert_are_read_from_the_index(store: SqliteStore) -> None:
    conn = sqlite3.connect(store.path)
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT seq, payload FROM events WHERE alert_id IN (?)", ("a001",)
    ).fetchall()
    conn.close()
    assert any("events_by_alert" in str(row) for row in plan)
