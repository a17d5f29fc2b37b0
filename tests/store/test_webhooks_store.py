"""Webhooks' durable state, on SQLite and PostgreSQL alike: subscriptions start at the
log's head, the delivery records progress only while it holds the lease, a state change
never overwrites an admin's later change, replays rewind the cursor once, and a removed
subscription leaves nothing behind however late the delivery records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tests.conftest import StoreMaker
from tests.support.webhooks import declare_events
from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.events import Seq
from tryvoha.domain.regions import RegionId
from tryvoha.domain.webhooks import Attempt, NewWebhook, WebhookState
from tryvoha.engine.transfer import move
from tryvoha.store import Store, open_store
from tryvoha.store.webhooks import TooManyWebhooksError, WebhookProgress

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 12, 8, 5, 0, tzinfo=UTC)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url)
    await s.open()
    yield s
    await s.close()


def hook(n: int, regions: tuple[str, ...] | None = None) -> NewWebhook:
    return NewWebhook(
        id=f"wh_{n}",
        url=f"https://example.org/hook/{n}",
        regions=None if regions is None else tuple(RegionId(r) for r in regions),
        threats=(ThreatType.AIR_RAID,) if n % 2 else None,
        description=f"endpoint {n}",
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )


async def test_a_subscription_starts_at_the_head_of_the_log(store: Store) -> None:
    await store.append_batch(declare_events(3))
    made = await store.create_webhook(hook(1, ("UA46000000000026241",)), limit=10)
    assert (made.id, made.state, made.cursor, made.version) == ("wh_1", "active", 3, 1)
    assert made.regions == ("UA46000000000026241",)
    assert made.threats == (ThreatType.AIR_RAID,)
    assert made.secret.startswith("whsec_")
    second = await store.create_webhook(hook(2), limit=10)
    assert second.regions is None and second.threats is None
    assert [r.id for r in await store.webhooks()] == ["wh_1", "wh_2"]
    assert await store.webhook_versions() == {"wh_1": 1, "wh_2": 1}
    assert await store.read_cursors("webhook:") == {"webhook:wh_1": 3, "webhook:wh_2": 3}


async def test_the_number_of_subscriptions_is_bounded(store: Store) -> None:
    await store.create_webhook(hook(1), limit=2)
    await store.create_webhook(hook(2), limit=2)
    with pytest.raises(TooManyWebhooksError):
        await store.create_webhook(hook(3), limit=2)
    assert len(await store.webhooks()) == 2


async def test_progress_is_recorded_only_under_the_lease(store: Store) -> None:
    await store.create_webhook(hook(1), limit=10)
    attempt = Attempt(1, Seq(4), NOW, 200, 12, None)
    progress = WebhookProgress(
        cursors={"wh_1": Seq(4)},
        attempts=[("wh_1", attempt)],
        delivered={"wh_1": (Seq(4), NOW)},
    )
    assert not await store.record_webhooks(progress, "webhooks", "me")  # no lease
    assert (await store.webhooks())[0].cursor == 0
    assert await store.take_lease("webhooks", "me", 30)
    assert await store.record_webhooks(progress, "webhooks", "me")
    record = (await store.webhooks())[0]
    assert (record.cursor, record.delivered_seq, record.delivered_at) == (4, 4, NOW)
    assert await store.webhook_attempts("wh_1", 10) == [attempt]
    assert await store.last_attempt_numbers() == {"wh_1": 1}
    back = WebhookProgress(cursors={"wh_1": Seq(2)})
    assert await store.record_webhooks(back, "webhooks", "me")
    assert (await store.webhooks())[0].cursor == 4  # forward only


async def test_attempts_are_pruned_and_errors_kept(store: Store) -> None:
    await store.create_webhook(hook(1), limit=10)
    assert await store.take_lease("webhooks", "me", 30)
    attempts = [Attempt(n, Seq(1), NOW, 500, 3, "HTTP 500") for n in range(1, 8)]
    progress = WebhookProgress(
        attempts=[("wh_1", a) for a in attempts],
        prune={"wh_1": 4},
        errors={"wh_1": ("HTTP 500", NOW)},
    )
    assert await store.record_webhooks(progress, "webhooks", "me")
    kept = await store.webhook_attempts("wh_1", 100)
    assert [a.n for a in kept] == [7, 6, 5]
    record = (await store.webhooks())[0]
    assert (record.last_error, record.last_error_at) == ("HTTP 500", NOW)


async def test_a_state_change_never_overwrites_a_later_resume(store: Store) -> None:
    made = await store.create_webhook(hook(1), limit=10)
    assert await store.take_lease("webhooks", "me", 30)
    suspend = WebhookProgress(states={"wh_1": (WebhookState.SUSPENDED, made.version)})
    assert await store.record_webhooks(suspend, "webhooks", "me")
    suspended = (await store.webhooks())[0]
    assert (suspended.state, suspended.version) == ("suspended", made.version + 1)
    assert await store.resume_webhook("wh_1")
    resumed = (await store.webhooks())[0]
    assert resumed.state == "active"
    # a suspension decided on an older version changes nothing
    late = WebhookProgress(states={"wh_1": (WebhookState.SUSPENDED, suspended.version)})
    assert await store.record_webhooks(late, "webhooks", "me")
    assert (await store.webhooks())[0].state == "active"
    assert not await store.resume_webhook("wh_nope")


async def test_a_replay_rewinds_the_cursor_once_under_the_lease(store: Store) -> None:
    await store.append_batch(declare_events(5))
    made = await store.create_webhook(hook(1), limit=10)
    assert made.cursor == 5
    assert await store.request_replay("wh_1", Seq(2))
    asked = (await store.webhooks())[0]
    assert (asked.replay_from, asked.version) == (2, made.version + 1)
    assert not await store.take_replay("wh_1", Seq(2), "webhooks", "me")  # no lease
    assert await store.take_lease("webhooks", "me", 30)
    assert not await store.take_replay("wh_1", Seq(3), "webhooks", "me")  # not the one asked
    assert await store.take_replay("wh_1", Seq(2), "webhooks", "me")
    taken = (await store.webhooks())[0]
    assert (taken.replay_from, taken.cursor) == (None, 1)
    assert not await store.take_replay("wh_1", Seq(2), "webhooks", "me")  # once


async def test_a_removed_subscription_leaves_nothing_behind(store: Store) -> None:
    await store.create_webhook(hook(1), limit=10)
    await store.create_webhook(hook(2), limit=10)
    assert await store.take_lease("webhooks", "me", 30)
    late = WebhookProgress(
        cursors={"wh_1": Seq(9)},
        attempts=[("wh_1", Attempt(1, Seq(9), NOW, 204, 1, None))],
        delivered={"wh_1": (Seq(9), NOW)},
    )
    assert await store.remove_webhook("wh_1")
    assert not await store.remove_webhook("wh_1")
    assert await store.record_webhooks(late, "webhooks", "me")  # recorded after the removal
    assert [r.id for r in await store.webhooks()] == ["wh_2"]
    assert await store.read_cursors("webhook:") == {"webhook:wh_2": 0}
    assert await store.webhook_attempts("wh_1", 10) == []
    assert await store.count_rows("webhook_attempts") == 0


async def test_migrate_store_moves_subscriptions_cursors_and_attempts(
    store: Store, make_store_url: StoreMaker
) -> None:
    """A moved store goes on where it was: same secrets, same cursors (nothing sent
    again from the start), same attempts."""
    await store.append_batch(declare_events(4))
    await store.create_webhook(hook(1, ("UA46000000000026241",)), limit=10)
    assert await store.take_lease("webhooks", "me", 30)
    progress = WebhookProgress(
        cursors={"wh_1": Seq(6)},
        attempts=[("wh_1", Attempt(1, Seq(6), NOW, 204, 3, None))],
        delivered={"wh_1": (Seq(6), NOW)},
    )
    await store.append_batch(declare_events(2, start=10))
    assert await store.record_webhooks(progress, "webhooks", "me")
    target = open_store(make_store_url("target"))
    await target.open()
    try:
        await move(store, target)
        assert await target.webhooks() == await store.webhooks()
        assert (await target.webhooks())[0].cursor == 6
        assert await target.webhook_attempts("wh_1", 10) == await store.webhook_attempts("wh_1", 10)
    finally:
        await target.close()
