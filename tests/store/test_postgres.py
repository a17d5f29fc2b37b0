"""What only the PostgreSQL store does: the log's advisory lock, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.store.test_store import declared
from tryvoha.domain.events import Seq
from tryvoha.store import StoreError
from tryvoha.store.postgres import PostgresStore
from tryvoha.store.postgres_log import LOG_LOCK

pytestmark = pytest.mark.anyio


@pytest.fixture
def store_kind() -> str:
    return "postgresql"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[PostgresStore]:
    s = PostgresStore(store_url)
    await s.open()
    yield s
    await s.close()


async def hold_the_lock(store_url: str) -> asyncpg.Connection:
    """Another writer (another machine) inside its write transaction."""
    other = await asyncpg.connect(store_url)
    await other.execute("BEGIN")
    await other.execute("SELECT pg_advisory_xact_lock($1)", LOG_LOCK)
    return other


async def test_a_write_waits_for_another_writer_while_the_loop_serves(
    store: PostgresStore, store_url: str
) -> None:
    other = await hold_the_lock(store_url)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(tick())
    begun = asyncio.create_task(store.begin_write(Seq(0)))
    await asyncio.sleep(0.2)
    assert not begun.done()
    assert ticks > 20  # awaited: the loop serves while PostgreSQL holds the writer back
    await other.execute(
        "INSERT INTO events VALUES (1, 'alert.declared', 0, 'a', 'r', 'x', '\\x7b7d')"
    )
    await other.execute("COMMIT")  # the lock goes with the transaction
    tx = await asyncio.wait_for(begun, 5)
    ticker.cancel()
    assert not tx.blocks_loop
    assert [bytes(r) for r in tx.tail] == [b"{}"]  # what the other writer committed
    await tx.commit([declared(2)], None)
    assert await store.last_seq() == 2
    await other.close()


async def test_a_lock_held_too_long_is_a_clear_error_and_leaves_nothing_open(
    store_url: str,
) -> None:
    other = await hold_the_lock(store_url)
    impatient = PostgresStore(store_url, pool_size=1, lock_timeout="50ms")
    await impatient.open()
    with pytest.raises(StoreError, match="locked"):
        await impatient.begin_write(Seq(0))
    cancelled = asyncio.create_task(impatient.begin_write(Seq(0)))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await other.execute("ROLLBACK")
    await other.close()
    tx = await impatient.begin_write(Seq(0))  # its one connection came back, usable
    await tx.commit([declared(1)], None)
    assert await impatient.last_seq() == 1
    await impatient.close()
