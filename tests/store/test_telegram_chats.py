"""The Telegram bot's subscribers, on SQLite and PostgreSQL alike: a row and a cursor per
chat, read a page at a time in the order of their ids."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import KYIV_CITY, LVIV
from tryvoha.domain.events import Seq
from tryvoha.store import Store, open_store
from tryvoha.store.base import CHAT_CURSOR, ChatRecord

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url)
    await s.open()
    yield s
    await s.close()


async def test_a_chat_subscribes_changes_and_stops(store: Store) -> None:
    assert await store.get_chat(1001) is None
    await store.subscribe_chat(1001, LVIV, "uk", Seq(40))
    assert await store.get_chat(1001) == ChatRecord(1001, LVIV, "uk", Seq(40))
    # another place: the cursor moves to now, never back
    await store.subscribe_chat(1001, KYIV_CITY, "uk", Seq(52))
    await store.subscribe_chat(1001, KYIV_CITY, "uk", Seq(45))
    assert await store.get_chat(1001) == ChatRecord(1001, KYIV_CITY, "uk", Seq(52))
    assert await store.set_chat_language(1001, "en")
    assert not await store.set_chat_language(2002, "en")
    assert (await store.get_chat(1001)).lang == "en"  # type: ignore[union-attr]
    assert await store.unsubscribe_chat(1001)
    assert not await store.unsubscribe_chat(1001)
    assert await store.get_chat(1001) is None
    assert await store.read_cursors(CHAT_CURSOR) == {}  # its cursor went with it
    await store.subscribe_chat(1001, LVIV, "uk", Seq(3))  # again, from that seq
    assert await store.get_chat(1001) == ChatRecord(1001, LVIV, "uk", Seq(3))


async def test_chats_come_a_page_at_a_time_with_their_cursors(store: Store) -> None:
    ids = [-1001234567890, -5, 7, 1001, 2**40]  # groups' ids are negative
    for chat in ids:
        await store.subscribe_chat(chat, LVIV, "uk", Seq(0))
    assert await store.take_lease("telegram", "me", 30)
    assert await store.move_cursors({f"{CHAT_CURSOR}7": Seq(9)}, "telegram", "me")
    first = await store.chats_after(None, 2)
    assert [c.chat_id for c in first] == ids[:2]
    rest = await store.chats_after(first[-1].chat_id, 10)
    assert [(c.chat_id, c.cursor) for c in rest] == [(7, 9), (1001, 0), (2**40, 0)]
    assert await store.chats_after(2**40, 10) == []
    assert await store.count_chats() == 5
    await store.drop_cursors([f"{CHAT_CURSOR}1001"])
    assert (await store.get_chat(1001)).cursor is None  # type: ignore[union-attr]
