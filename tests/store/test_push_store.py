"""Web Push subscriptions in the store, on SQLite and PostgreSQL alike: one per browser
(saved again, it is replaced, keeping when it subscribed), found by any of its regions,
bounded in number; and a meta value that the first of several processes sets for all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tests.conftest import KYIV_CITY, KYIV_OBLAST, LVIV
from tryvoha.domain.events import Seq
from tryvoha.domain.regions import RegionId
from tryvoha.store import Store, open_store
from tryvoha.store.base import PushSubscription, StoreFullError

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url)
    await s.open()
    yield s
    await s.close()


def sub(n: int, *regions: RegionId, lang: str = "uk", since: int = 0) -> PushSubscription:
    return PushSubscription(
        id=f"sub{n}",
        endpoint=f"https://push.example.org/{n}",
        p256dh=f"key{n}",
        auth=f"auth{n}",
        regions=regions,
        lang=lang,
        since_seq=Seq(since),
        created_at=datetime.now(UTC),
    )


async def test_a_subscription_is_saved_replaced_found_and_dropped(store: Store) -> None:
    first = await store.save_push_subscription(sub(1, LVIV, KYIV_CITY, since=5), limit=10)
    assert first.regions == tuple(sorted((LVIV, KYIV_CITY)))
    assert (first.since_seq, first.lang, first.endpoint) == (5, "uk", "https://push.example.org/1")
    await store.save_push_subscription(sub(2, KYIV_OBLAST), limit=10)
    # the same browser again: new keys, regions and language; when it subscribed stays
    again = await store.save_push_subscription(sub(1, LVIV, lang="fr", since=9), limit=10)
    assert (again.regions, again.lang, again.since_seq) == ((LVIV,), "fr", 5)
    assert again.created_at == first.created_at
    assert [s.id for s in await store.push_subscriptions_for([LVIV])] == ["sub1"]
    assert await store.push_subscriptions_for([KYIV_CITY]) == []  # no longer followed
    both = await store.push_subscriptions_for([LVIV, KYIV_OBLAST, RegionId("UA")])
    assert [(s.id, s.regions) for s in both] == [("sub1", (LVIV,)), ("sub2", (KYIV_OBLAST,))]
    assert await store.drop_push_subscription("sub1")
    assert not await store.drop_push_subscription("sub1")
    assert await store.push_subscription("sub1") is None
    assert await store.push_subscriptions_for([LVIV]) == []


async def test_subscriptions_are_bounded(store: Store) -> None:
    await store.save_push_subscription(sub(1, LVIV), limit=2)
    await store.save_push_subscription(sub(2, LVIV), limit=2)
    with pytest.raises(StoreFullError):
        await store.save_push_subscription(sub(3, LVIV), limit=2)
    assert await store.push_subscription("sub3") is None
    await store.save_push_subscription(sub(2, KYIV_CITY), limit=2)  # a known one may change


async def test_the_first_process_to_keep_a_meta_value_sets_it_for_all(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(3)]
    for s in stores:
        await s.open()
    try:
        kept = await asyncio.gather(*(s.keep_meta("k", f"v{n}") for n, s in enumerate(stores)))
        assert len(set(kept)) == 1 and kept[0] in {"v0", "v1", "v2"}
        assert await stores[0].keep_meta("k", "other") == kept[0]
    finally:
        for s in stores:
            await s.close()
