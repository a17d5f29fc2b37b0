"""migrate-store's engine: every row is moved as it is, and checked after it arrived."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import LVIV, StoreMaker
from tests.store.test_store import alert
from tryvoha.domain.events import EventType, PendingEvent, Seq
from tryvoha.domain.scope import Role
from tryvoha.engine.transfer import TransferError, move
from tryvoha.store import Store, open_store
from tryvoha.store.base import Row

pytestmark = pytest.mark.anyio


@pytest.fixture
async def stores(make_store_url: StoreMaker) -> AsyncIterator[tuple[Store, Store]]:
    source, target = open_store(make_store_url("source")), open_store(make_store_url("target"))
    await source.open()
    await target.open()
    for n in range(7):
        a = alert(n)
        await source.append_batch([PendingEvent(EventType.DECLARED, a.started_at, "t", a)])
    await source.create_token("lviv", Role.ISSUER, [LVIV], "h")
    await source.subscribe_chat(1001, LVIV, "en", Seq(7))  # a Telegram subscriber
    yield source, target
    await source.close()
    await target.close()


async def test_rows_arrive_as_they_left_in_small_batches(stores: tuple[Store, Store]) -> None:
    source, target = stores
    moved: list[tuple[str, int]] = []
    report = await move(source, target, batch=3, progress=lambda t, n: moved.append((t, n)))
    assert report.rows["events"] == 7 and report.rows["tokens"] == 1
    assert [n for t, n in moved if t == "events"] == [3, 3, 1]
    assert await target.read_events(0, 100) == await source.read_events(0, 100)  # type: ignore[arg-type]
    assert target.epoch == source.epoch
    assert await target.get_chat(1001) == await source.get_chat(1001)
    assert report.rows["telegram_chats"] == 1
    with pytest.raises(TransferError, match="empty store only"):
        await move(source, target)


async def test_a_row_that_arrives_changed_stops_the_move(stores: tuple[Store, Store]) -> None:
    source, target = stores
    real = target.export_rows

    async def tampered(table: str, after: Row | None, limit: int) -> list[Row]:
        rows = await real(table, after, limit)
        if table == "events" and rows and after is not None:
            seq, *rest, payload = rows[0]
            rows[0] = (seq, *rest, payload.replace(b"air_raid", b"air_rad"))
        return rows

    target.export_rows = tampered  # type: ignore[method-assign]
    with pytest.raises(TransferError, match=r"events \(4,\) differs"):
        await move(source, target, batch=3)


async def test_a_source_written_during_the_move_is_caught(stores: tuple[Store, Store]) -> None:
    source, target = stores
    a = alert(99)
    finish = target.finish_import

    async def a_live_write_first() -> None:  # a server left running on the source
        await source.append_batch([PendingEvent(EventType.DECLARED, a.started_at, "t", a)])
        await finish()

    target.finish_import = a_live_write_first  # type: ignore[method-assign]
    with pytest.raises(TransferError, match="written to during the move"):
        await move(source, target)
