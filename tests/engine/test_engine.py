"""The engine on a real SQLite file: snapshots while writes run, hooks that fail after a
commit, and a projection rebuilt from snapshot + tail equal to a full replay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

import pytest

from tests.conftest import LVIV
from tryvoha.data import region_tree
from tryvoha.domain.commands import ClearRegion, Declare
from tryvoha.domain.events import Seq
from tryvoha.domain.regions import Level
from tryvoha.domain.scope import Principal, Role
from tryvoha.engine.auth import AuthError, issue_token
from tryvoha.engine.engine import Engine, load_projection
from tryvoha.store import Store, open_store
from tryvoha.store.base import Committed

pytestmark = pytest.mark.anyio
NATIONAL = Principal("national", Role.ISSUER, (region_tree().get("UA").id,))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url)
    await s.open()
    await issue_token(s, region_tree(), NATIONAL.name, NATIONAL.role, ["UA"])
    yield s
    await s.close()


async def test_snapshots_are_saved_while_writes_run(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await Engine.load(store, region_tree(), snapshot_every=4)
    hromadas = [r.id for r in region_tree().at_level(Level.HROMADA)][:40]
    with caplog.at_level(logging.ERROR):
        await asyncio.gather(*(engine.execute(Declare((h,)), NATIONAL) for h in hromadas))
        if engine._snapshot_task is not None:
            await engine._snapshot_task
    assert not [r for r in caplog.records if "snapshot" in r.getMessage()]
    snapshot = await store.load_snapshot()
    assert snapshot is not None and snapshot[0] >= 36
    rebuilt = await load_projection(store)  # snapshot + tail
    assert rebuilt.active() == engine.projection.active() and rebuilt.seq == 40


async def test_a_restart_remembers_the_newest_events_in_order(store: Store) -> None:
    """Cold (a full replay) and warm (a snapshot, then the log after it): the events in
    memory are the log's, each once, in order, so a subscriber resumes from memory."""
    engine = await Engine.load(store, region_tree())
    hromadas = [r.id for r in region_tree().at_level(Level.HROMADA)][:30]
    for h in hromadas[:20]:
        await engine.execute(Declare((h,)), NATIONAL)
    log = await store.read_events(Seq(0), 100)

    def remembered(e: Engine) -> list[bytes]:
        recent = e.feed.recent_after(Seq(0))
        assert recent is not None
        return [r.raw for r in recent]

    assert remembered(await Engine.load(store, region_tree())) == log  # cold: no snapshot
    await engine.save_snapshot()  # at 20
    for h in hromadas[20:]:
        await engine.execute(Declare((h,)), NATIONAL)
    log = await store.read_events(Seq(0), 100)
    warm = await Engine.load(store, region_tree())
    assert warm.seq == 30 and remembered(warm) == log  # 1-20 read, 21-30 replayed


async def test_a_long_replay_at_start_is_saved_as_a_snapshot(store: Store) -> None:
    engine = await Engine.load(store, region_tree())
    for h in [r.id for r in region_tree().at_level(Level.HROMADA)][:6]:
        await engine.execute(Declare((h,)), NATIONAL)
    await Engine.load(store, region_tree(), snapshot_every=7)  # 6 replayed: not long
    assert await store.load_snapshot() is None
    await Engine.load(store, region_tree(), snapshot_every=6)
    snapshot = await store.load_snapshot()
    assert snapshot is not None and snapshot[0] == 6
    await Engine.load(store, region_tree(), snapshot_every=1)  # nothing replayed after it
    assert (await store.load_snapshot()) == snapshot


async def test_a_failing_hook_does_not_undo_an_answer(store: Store) -> None:
    engine = await Engine.load(store, region_tree())

    async def broken(committed: Sequence[Committed]) -> None:
        raise RuntimeError("the bus is down")

    engine.after_commit.append(broken)
    result = await engine.execute(Declare((LVIV,)), NATIONAL)
    assert result.status == 201 and result.seq == 1
    cleared = await engine.execute(ClearRegion(LVIV), NATIONAL)
    assert cleared.seq == 2 and await store.last_seq() == 2


async def test_a_revoked_token_cannot_write_even_if_remembered(store: Store) -> None:
    engine = await Engine.load(store, region_tree())
    await engine.execute(Declare((LVIV,)), NATIONAL)
    await store.revoke_token(NATIONAL.name)
    with pytest.raises(AuthError, match="revoked"):
        await engine.execute(ClearRegion(LVIV), NATIONAL)  # the principal object still exists
    assert await store.last_seq() == 1
