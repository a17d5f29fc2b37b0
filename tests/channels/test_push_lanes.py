"""Web Push bookkeeping without I/O: each browser's notices in order, one at a time; a
held lane holds only itself; the cursors recorded let a restart resume with nothing
given twice that was recorded and nothing lost."""

from __future__ import annotations

from datetime import UTC, datetime

from tryvoha.channels.push import backoff
from tryvoha.channels.push_lanes import Lanes, Notice
from tryvoha.channels.push_send import Outcome, judge, retry_after
from tryvoha.domain.events import Seq
from tryvoha.domain.regions import RegionId
from tryvoha.store.base import PushSubscription


def sub(name: str, since: int = 0) -> PushSubscription:
    return PushSubscription(
        name,
        f"https://push.example.org/{name}",
        "k",
        "a",
        (RegionId("UA"),),
        "uk",
        Seq(since),
        datetime.now(UTC),
    )


def notice(seq: int) -> Notice:
    return Notice(Seq(seq), b"{}", True)


def test_a_lane_sends_in_order_one_at_a_time() -> None:
    lanes = Lanes(Seq(0), {})
    a = sub("a")
    for seq in (1, 2, 3):
        lanes.add(a, notice(seq))
    taken = lanes.take()
    assert taken is not None and taken[1].seq == 1
    assert lanes.take() is None  # the lane is busy: its second waits for its first
    lanes.done("a")
    taken = lanes.take()
    assert taken is not None and taken[1].seq == 2


def test_a_held_lane_holds_the_channel_cursor_but_not_the_others() -> None:
    lanes = Lanes(Seq(10), {})
    slow, fast = sub("slow"), sub("fast")
    lanes.add(slow, notice(11))
    lanes.add(fast, notice(11))
    lanes.add(fast, notice(12))
    lanes.read_upto(Seq(12))
    first = lanes.take()
    assert first is not None and first[0].id == "slow"  # its push service says 503...
    second = lanes.take()
    assert second is not None and second[0].id == "fast"
    lanes.done("fast")
    third = lanes.take()
    assert third is not None and third[1].seq == 12  # ...and fast goes on meanwhile
    lanes.done("fast")
    # recorded: the channel up to 10 (slow still owes 11), fast's own cursor at 12
    assert lanes.moves() == {"push:fast": 12}
    lanes.recorded_upto({"push:fast": Seq(12)})
    assert lanes.moves() == {}  # nothing new
    lanes.again("slow")
    retried = lanes.take()
    assert retried is not None and retried[0].id == "slow"
    lanes.done("slow")
    assert lanes.moves() == {"push": 12}  # everything done up to 12: one cursor covers all
    lanes.recorded_upto({"push": Seq(12)})
    assert lanes.positions == {}  # covered by the channel's cursor


def test_after_a_restart_a_browser_gets_only_what_was_not_recorded() -> None:
    lanes = Lanes(Seq(10), {"fast": Seq(12)})  # as read back from the store
    assert not lanes.wants(sub("fast"), Seq(12))
    assert lanes.wants(sub("fast"), Seq(13))
    assert lanes.wants(sub("slow"), Seq(11))
    assert not lanes.wants(sub("new", since=20), Seq(15))  # subscribed after it


def test_a_removed_subscription_leaves_no_lane_behind() -> None:
    lanes = Lanes(Seq(0), {})
    lanes.add(sub("gone"), notice(1))
    lanes.add(sub("gone"), notice(2))
    lanes.read_upto(Seq(2))
    assert lanes.take() is not None
    lanes.forget("gone")
    assert (lanes.queued, lanes.take(), lanes.done_upto()) == (0, None, 2)


def test_backoff_doubles_to_a_minute_and_honours_retry_after() -> None:
    assert [backoff(n, None, jitter=1.0) for n in (1, 2, 3, 7, 30)] == [1, 2, 4, 60, 60]
    assert backoff(1, None, jitter=0.0) == 0.5
    assert backoff(1, 30.0, jitter=1.0) == 30.0


def test_what_a_push_service_answer_means() -> None:
    def answer(status: int) -> Outcome:
        return judge(status).outcome

    assert answer(201) is Outcome.SENT
    assert answer(404) is Outcome.GONE and answer(410) is Outcome.GONE
    assert answer(429) is Outcome.RETRY and answer(503) is Outcome.RETRY
    assert answer(400) is Outcome.FAILED and answer(413) is Outcome.FAILED
    assert judge(429, "7").retry_after == 7
    assert retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10
    assert retry_after("99999") == 600  # at most ten minutes
    assert retry_after("soon") is None
