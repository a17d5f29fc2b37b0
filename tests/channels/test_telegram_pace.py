"""Telegram's limits as a schedule (pure, a fake clock), and the batched, fenced cursor
moves behind "nothing sent twice" (on both stores)."""

from __future__ import annotations

import asyncio

import pytest

from tryvoha.channels.lease import Holding
from tryvoha.channels.telegram.pace import Pace
from tryvoha.channels.telegram.record import LeaseLostError, Recorder
from tryvoha.domain.events import Seq
from tryvoha.store import open_store


def send_all(pace: Pace, chats: list[int | str], now: float = 0.0) -> list[float]:
    """Each message as soon as the schedule lets it go: when each went."""
    times = []
    for chat in chats:
        now += pace.delay(chat, now)
        pace.take(chat, now)
        times.append(now)
    return times


def most_in_one_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


def test_thirty_a_second_in_all_evenly_spaced() -> None:
    times = send_all(Pace(), list(range(1, 301)))
    assert most_in_one_second(times) <= 30
    assert times[-1] == pytest.approx(299 / 30, abs=1e-3)
    paid = send_all(Pace(per_second=1000), list(range(1, 1001)))  # paid broadcasts
    assert paid[-1] == pytest.approx(0.999, abs=1e-3)


def test_one_a_second_to_a_chat_and_twenty_a_minute_to_a_group() -> None:
    pace = Pace()
    assert send_all(pace, [7, 7, 7]) == [0.0, 1.0, 2.0]
    group = send_all(Pace(), ["@ua_alerts"] * 22)
    assert group[:20] == [float(i) for i in range(20)]
    assert group[20] == 60.0  # the 21st waits for the first to leave the minute
    assert group[21] == 61.0
    assert send_all(Pace(), [-100123] * 21)[20] == 60.0  # a group's negative id


def test_a_429_holds_every_message_until_its_retry_after() -> None:
    pace = Pace()
    pace.take(1, 0.0)
    pace.hold(5.0)
    assert pace.delay(2, 0.5) == pytest.approx(4.5)
    assert pace.delay(3, 5.0) == 0.0


def test_memory_is_bounded_by_the_rate_not_the_subscribers() -> None:
    pace = Pace()
    send_all(pace, list(range(1, 10_001)))
    assert pace.remembered <= 31  # the chats sent to within the last second


@pytest.mark.anyio
async def test_cursor_moves_are_batched_and_fenced(store_url: str) -> None:
    store = open_store(store_url)
    await store.open()
    try:
        assert await store.take_lease("telegram", "me", 30)
        recorder = Recorder(Holding(store, "telegram", "me"), flush_seconds=0.05)
        flusher = asyncio.get_running_loop().create_task(recorder.run())
        for chat in range(1, 101):
            recorder.note(f"telegram:chat:{chat}", Seq(chat))
        await recorder.durable()
        assert recorder.commits == 1  # a hundred answers, one commit
        found = await store.read_cursors("telegram:chat:")
        assert found == {f"telegram:chat:{c}": c for c in range(1, 101)}
        await store.drop_lease("telegram", "me")
        assert await store.take_lease("telegram", "another", 30)
        recorder.note("telegram:chat:1", Seq(500))
        with pytest.raises(LeaseLostError):
            await recorder.durable()
        with pytest.raises(LeaseLostError):
            await flusher
        assert (await store.read_cursors("telegram:chat:1"))["telegram:chat:1"] == 1
        with pytest.raises(LeaseLostError):
            recorder.note("telegram:chat:2", Seq(501))
    finally:
        await store.close()
