"""The channels' delivery state, on SQLite and PostgreSQL alike: one holder per lease, and
cursors that move only forward and only while their lease is held (fenced)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.support.server import timeout
from tryvoha.channels.lease import Holding, LeaseKeeper
from tryvoha.domain.events import Seq
from tryvoha.store import Store, open_store

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url)
    await s.open()
    yield s
    await s.close()


async def test_a_lease_has_one_holder_until_it_runs_out_or_is_dropped(store: Store) -> None:
    assert await store.take_lease("mqtt", "a", 30)
    assert await store.take_lease("mqtt", "a", 30)  # renewed
    assert not await store.take_lease("mqtt", "b", 30)
    assert await store.take_lease("webhooks", "b", 30)  # another lease, another holder
    await store.drop_lease("mqtt", "b")  # not b's to drop
    assert not await store.take_lease("mqtt", "b", 30)
    await store.drop_lease("mqtt", "a")
    assert await store.take_lease("mqtt", "b", 0.2)
    await asyncio.sleep(0.3)
    assert await store.take_lease("mqtt", "a", 30)  # b's ran out


async def test_cursors_move_forward_only_while_the_lease_is_held(store: Store) -> None:
    assert await store.take_lease("webhooks", "a", 30)
    moves = {"webhook:1": Seq(5), "webhook:2": Seq(7)}
    assert await store.move_cursors(moves, "webhooks", "a")
    assert await store.move_cursors({"webhook:1": Seq(3)}, "webhooks", "a")  # never back
    assert await store.read_cursors("webhook:") == {"webhook:1": 5, "webhook:2": 7}
    assert not await store.move_cursors({"webhook:1": Seq(9)}, "webhooks", "b")  # fenced
    assert await store.read_cursors("webhook:1") == {"webhook:1": 5}
    await store.drop_lease("webhooks", "a")
    assert not await store.move_cursors({"webhook:1": Seq(9)}, "webhooks", "a")
    await store.drop_cursors(["webhook:2"])
    assert await store.read_cursors("") == {"webhook:1": 5}


async def test_one_keeper_delivers_at_a_time_and_another_takes_over(store_url: str) -> None:
    """Two processes' keepers (two stores on one log): one delivers; when it stops, the
    other takes the lease over, and a delivery that lost its lease can record nothing."""
    stores = [open_store(store_url), open_store(store_url)]
    for s in stores:
        await s.open()
    running: list[str] = []
    holdings: list[Holding] = []

    def deliver(name: str):  # type: ignore[no-untyped-def]
        async def run(holding: Holding) -> None:
            running.append(name)
            holdings.append(holding)
            await asyncio.Event().wait()  # delivers until cancelled

        return run

    keepers = [
        LeaseKeeper(s, "telegram", deliver(n), n, 1.0, 0.2, 0.1)
        for s, n in zip(stores, ("first", "second"), strict=True)
    ]
    try:
        keepers[0].start()
        async with asyncio.timeout(timeout(5)):
            while not running:
                await asyncio.sleep(0.01)
        keepers[1].start()
        await asyncio.sleep(0.6)
        assert running == ["first"]
        await keepers[0].stop()  # gives the lease up: the other takes it at once
        async with asyncio.timeout(timeout(5)):
            while len(running) < 2:
                await asyncio.sleep(0.01)
        assert running == ["first", "second"]
        old = holdings[0]
        assert not await old.store.move_cursors({"telegram:1": Seq(1)}, old.lease, old.holder)
        new = holdings[1]
        assert await new.store.move_cursors({"telegram:1": Seq(1)}, new.lease, new.holder)
    finally:
        for keeper in keepers:
            await keeper.stop()
        for s in stores:
            await s.close()


async def test_a_keeper_that_stops_gives_its_lease_up_at_once(store_url: str) -> None:
    """A process shut down in order lets go of the lease: another takes it now, not when
    it runs out (here 30 s)."""
    store = open_store(store_url)
    await store.open()
    running = asyncio.Event()

    async def deliver(holding: Holding) -> None:
        running.set()
        await asyncio.Event().wait()

    keeper = LeaseKeeper(store, "webhooks", deliver, "first", 30.0, 10.0, 0.1)
    try:
        keeper.start()
        async with asyncio.timeout(timeout(5)):
            await running.wait()
        assert not await store.take_lease("webhooks", "second", 30.0)
        await keeper.stop()
        assert await store.take_lease("webhooks", "second", 30.0)
    finally:
        await keeper.stop()
        await store.close()
