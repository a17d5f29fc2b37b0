"""What every store promises, on SQLite and PostgreSQL alike (store.base)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import KYIV_CITY, LVIV
from tests.support.log import raw
from tests.support.stores import commit, rollback
from tryvoha.domain.alerts import Alert, AlertId, AlertLevel, ThreatType
from tryvoha.domain.events import Event, EventType, PendingEvent, Seq
from tryvoha.domain.regions import RegionId
from tryvoha.domain.scope import Role
from tryvoha.protocol.wire import decode_event
from tryvoha.store import Store, StoreError, open_store
from tryvoha.store.base import AuditQuery, HistoryQuery, IdempotencyRecord

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


def declared(n: int, issuer: str = "test") -> Event:
    return Event(Seq(n), EventType.DECLARED, T0, issuer, alert(n))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url)
    await s.open()
    yield s
    await s.close()


async def test_the_log_is_append_only_whoever_connects(store: Store, store_url: str) -> None:
    await commit(await store.begin_write(Seq(0)), [declared(1)])
    for statement in ("UPDATE events SET issuer = 'x'", "DELETE FROM events"):
        with pytest.raises(Exception, match="append-only"):
            raw(store_url, statement)
    assert await store.last_seq() == 1


async def test_a_gap_or_a_duplicate_seq_is_refused(store: Store) -> None:
    tx = await store.begin_write(Seq(0))
    with pytest.raises(StoreError, match="no gaps"):
        await commit(tx, [Event(Seq(2), EventType.DECLARED, T0, "test", alert(1))])
    assert await store.last_seq() == 0
    await commit(await store.begin_write(Seq(0)), [declared(1)])
    tx = await store.begin_write(Seq(0))
    assert len(tx.tail) == 1  # the event committed since `after`
    with pytest.raises(StoreError):
        await commit(tx, [Event(Seq(1), EventType.DECLARED, T0, "test", alert(2))])
    assert await store.last_seq() == 1


async def test_a_write_sees_what_others_committed_under_the_lock(store_url: str) -> None:
    one, two = open_store(store_url), open_store(store_url)
    await one.open()
    await two.open()
    try:
        await commit(await one.begin_write(Seq(0)), [declared(1)])
        tx = await two.begin_write(Seq(0))  # two has not seen seq 1
        assert [bytes(r) for r in tx.tail] == await one.read_events(Seq(0), 10)
        await commit(tx, [declared(2)])
        assert await one.last_seq() == 2
    finally:
        await one.close()
        await two.close()


async def test_the_bytes_read_are_the_bytes_committed(store: Store) -> None:
    committed = await commit(await store.begin_write(Seq(0)), [declared(1), declared(2)])
    assert await store.read_events(Seq(0), 10) == [c.raw for c in committed]
    assert await store.events_by_issuer("test", 1) == [committed[1].raw]


async def test_idempotency_answer_is_stored_with_the_events(store: Store) -> None:
    record = IdempotencyRecord("lviv", "k1", "fp", 201, b'{"seq":1}')
    tx = await store.begin_write(Seq(0), "lviv", "k1")
    assert tx.prior_answer is None
    await commit(tx, [declared(1, "lviv")], record)
    tx = await store.begin_write(Seq(1), "lviv", "k1")
    assert tx.prior_answer == record
    await rollback(tx)
    other = await store.begin_write(Seq(1), "kyiv", "k1")  # keys are per token
    assert other.prior_answer is None
    await rollback(other)


async def test_a_failed_commit_leaves_nothing_behind(store: Store, store_url: str) -> None:
    record = IdempotencyRecord("lviv", "k1", "fp", 201, b"{}")
    tx = await store.begin_write(Seq(0), "lviv", "k1")
    with pytest.raises(StoreError):
        await commit(tx, [declared(2, "lviv")], record)  # a gap: refused
    assert raw(store_url, "SELECT count(*) FROM idempotency") == [(0,)]
    assert raw(store_url, "SELECT count(*) FROM audit") == [(0,)]
    await commit(await store.begin_write(Seq(0)), [declared(1)])  # the lock was let go


async def test_idempotency_keys_are_forgotten_after_a_day(store: Store, store_url: str) -> None:
    old = IdempotencyRecord("lviv", "old", "fp", 201, b"{}")
    await commit(await store.begin_write(Seq(0), "lviv", "old"), [declared(1, "lviv")], old)
    new = IdempotencyRecord("lviv", "new", "fp", 201, b"{}")
    await commit(await store.begin_write(Seq(1), "lviv", "new"), [declared(2, "lviv")], new)
    day_and_a_bit = (24 * 3600 + 60) * 1000
    raw(
        store_url,
        "UPDATE idempotency SET created_ms = created_ms - ? WHERE key = 'old'",
        day_and_a_bit,
    )
    await store.close()  # the upkeep runs when a store is opened (and every so many writes)
    store = open_store(store_url)
    await store.open()
    for key, kept in (("old", None), ("new", new)):
        tx = await store.begin_write(Seq(2), "lviv", key)
        assert tx.prior_answer == kept
        await rollback(tx)
    await store.close()


async def test_history_is_newest_first_and_paged(store: Store) -> None:
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
    assert await store.has_alert_ids(["a001", "a009"]) == {"a001"}
    intervals = await store.alert_intervals(frozenset({LVIV}), ThreatType.AIR_RAID, None, None)
    assert [(r, s) for r, s, _ in intervals] == [(LVIV, T0 + timedelta(hours=n)) for n in (1, 3)]


async def test_tokens_are_stored_hashed_and_revocable(store: Store) -> None:
    record = await store.create_token("lviv", Role.ISSUER, [LVIV], "hash1")
    assert (await store.token_by_hash("hash1")) == record
    assert await store.list_tokens() == [record]
    assert await store.revoke_token("lviv") and not await store.revoke_token("lviv")
    revoked = await store.token_by_hash("hash1")
    assert revoked is not None and revoked.revoked_at is not None
    audit = await store.read_audit(AuditQuery("cli", limit=10))
    assert [a.action for a in audit] == ["token.revoke", "token.create"]


async def test_a_snapshot_replaces_the_older_ones(store: Store) -> None:
    assert await store.load_snapshot() is None
    await store.save_snapshot(Seq(5), b'{"seq":5}')
    await store.save_snapshot(Seq(9), b'{"seq":9}')
    assert await store.load_snapshot() == (Seq(9), b'{"seq":9}')


async def test_bad_urls_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unknown store"):
        open_store("mysql://x")
    with pytest.raises(StoreError, match="not a SQLite URL"):
        open_store("sqlite://relative.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    store = open_store(f"sqlite:///{junk}")
    with pytest.raises(StoreError, match="cannot open"):
        await store.open()
    nowhere = open_store("postgresql://someone:secret@127.0.0.1:1/nothing")
    with pytest.raises(StoreError, match="cannot connect") as refused:
        await nowhere.open()
    assert "secret" not in str(refused.value)  # passwords never print


async def test_events_of_alerts_are_every_event_of_those_alerts_in_seq_order(
    store: Store,
) -> None:
    first, second = alert(1), alert(2, KYIV_CITY)
    later = T0 + timedelta(minutes=5)
    await commit(
        await store.begin_write(Seq(0)),
        [
            Event(Seq(1), EventType.DECLARED, T0, "test", first),
            Event(Seq(2), EventType.DECLARED, T0, "test", second),
            Event(Seq(3), EventType.UPDATED, later, "test", first),
            Event(Seq(4), EventType.CLEARED, later, "test", second),
        ],
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
