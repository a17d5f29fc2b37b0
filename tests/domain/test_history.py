"""The record as alerts, pure: the overlap rule, the hand-over, store coverage, ids, the
events' order, and a day's replay steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import KHARKIV, KYIV_CITY, LVIV
from tryvoha.domain.alerts import Alert, AlertId, AlertLevel, ThreatType
from tryvoha.domain.events import Event, EventType, Seq
from tryvoha.domain.history import (
    PastAlert,
    Record,
    Source,
    Span,
    history_alert_id,
    history_events,
    merge_overlaps,
    plan_import,
    quiet_moment,
)
from tryvoha.domain.projection import Projection
from tryvoha.domain.replay import busiest, replay_steps
from tryvoha.engine.clock import new_alert_id

T0 = datetime(2024, 4, 1, tzinfo=UTC)
H = timedelta(hours=1)


def rec(region: str, start: float, end: float, subalerts: int = 1) -> Record:
    from tryvoha.domain.regions import RegionId

    return Record(RegionId(region), T0 + start * H, T0 + end * H, subalerts)


def spans(alerts: list[PastAlert]) -> list[tuple[str, float, float]]:
    return [(a.region_id, (a.started_at - T0) / H, (a.ended_at - T0) / H) for a in alerts]


def test_overlapping_rows_of_a_region_are_one_alert_touching_rows_stay_two() -> None:
    alerts, folded = merge_overlaps(
        [
            rec(LVIV, 0, 2),
            rec(LVIV, 1, 3, subalerts=4),  # overlaps: folded in
            rec(LVIV, 3, 4),  # touches: its own alert
            rec(KYIV_CITY, 1, 2),  # another region: untouched
            rec(LVIV, 0.5, 1),  # inside the first
        ],
        Source.OFFICIAL,
    )
    assert spans(alerts) == [(LVIV, 0, 3), (KYIV_CITY, 1, 2), (LVIV, 3, 4)]
    assert folded == 2
    assert (alerts[0].rows, alerts[0].subalerts) == (3, 6)


def test_quiet_moment_is_the_latest_time_no_alert_spans() -> None:
    intervals = [(T0, T0 + 2 * H), (T0 + H, T0 + 3 * H), (T0 + 3 * H, T0 + 5 * H)]
    assert quiet_moment(intervals, T0 + 4 * H) == T0 + 3 * H  # the run 3h-5h began at 3h
    assert quiet_moment(intervals, T0 + 2 * H) == T0  # 0h-3h is one run
    assert quiet_moment(intervals, T0 + 6 * H) == T0 + 6 * H
    assert quiet_moment(intervals, T0 + 3 * H) == T0 + 3 * H  # ends and starts: no alert spans it


def test_the_consolidated_record_takes_over_a_day_before_the_official_one_ends() -> None:
    official = [rec(LVIV, 0, 1), rec(LVIV, 20, 22), rec(KHARKIV, 40, 41), rec(LVIV, 50, 51)]
    consolidated = [
        rec(LVIV, 0, 1, 2),
        rec(LVIV, 20, 23),  # spans 21h: the hand-over moves to its start
        rec(KHARKIV, 40, 41),
        rec(LVIV, 50, 52),
        rec(LVIV, 60, 61),
    ]
    plan = plan_import(official, consolidated)
    # a day before the last official start (50h) is 26h: quiet; so 26h it is
    assert plan.cutover == T0 + 26 * H
    assert [(a.source, *s) for a, s in zip(plan.alerts, spans(plan.alerts), strict=True)] == [
        (Source.OFFICIAL, LVIV, 0, 1),
        (Source.OFFICIAL, LVIV, 20, 22),
        (Source.CONSOLIDATED, KHARKIV, 40, 41),
        (Source.CONSOLIDATED, LVIV, 50, 52),
        (Source.CONSOLIDATED, LVIV, 60, 61),
    ]
    reasons = {(left.alert.source, left.reason.split(" at ")[0]) for left in plan.left_out}
    assert reasons == {
        (Source.OFFICIAL, "after the hand-over to the consolidated record"),
        (Source.CONSOLIDATED, "before the hand-over from the official record"),
    }
    assert len(plan.left_out) == 2 + 2
    late = plan_import(official, [rec(LVIV, 20, 23), rec(LVIV, 48, 49)])
    assert plan_import(official, []).cutover is None
    assert late.cutover is None  # the consolidated record reaches no further: not used
    assert all(a.source is Source.OFFICIAL for a in late.alerts)


def test_a_row_inside_another_sources_span_in_the_store_is_left_out() -> None:
    covered = [Span(Source.CONSOLIDATED, T0 + 10 * H, T0 + 30 * H)]
    plan = plan_import([rec(LVIV, 0, 5), rec(LVIV, 9, 11), rec(LVIV, 30, 31)], [], covered)
    assert spans(plan.alerts) == [(LVIV, 0, 5), (LVIV, 30, 31)]
    assert [left.reason for left in plan.left_out] == [
        "the store holds the consolidated record for this time "
        "(2024-04-01 10:00:00 UTC to 2024-04-02 06:00:00 UTC)"
    ]
    same_source = [Span(Source.OFFICIAL, T0, T0 + 40 * H)]  # its own: ids decide
    assert len(plan_import([rec(LVIV, 0, 5)], [], same_source).alerts) == 1


def test_ids_are_deterministic_and_shaped_like_live_ids() -> None:
    one = history_alert_id(Source.OFFICIAL, LVIV, T0)
    assert one == history_alert_id(Source.OFFICIAL, LVIV, T0)
    others = {
        history_alert_id(Source.CONSOLIDATED, LVIV, T0),
        history_alert_id(Source.OFFICIAL, KYIV_CITY, T0),
        history_alert_id(Source.OFFICIAL, LVIV, T0 + timedelta(milliseconds=1)),
    }
    assert one not in others and len(others) == 3
    live = new_alert_id()
    assert len(one) == len(live) == 26
    assert set(one) <= set("0123456789abcdefghjkmnpqrstvwxyz")
    later = history_alert_id(Source.OFFICIAL, LVIV, T0 + H)
    assert one[:10] < later[:10] < live[:10]  # time-ordered, as live ids are


def test_each_alert_is_declared_and_cleared_at_once_so_the_log_replays_beside_live_ones() -> None:
    alerts, _ = merge_overlaps(
        [rec(LVIV, 0, 2), rec(LVIV, 1, 3), rec(KYIV_CITY, 1, 2)], Source.CONSOLIDATED
    )
    live = Alert(
        AlertId("live"), KHARKIV, ThreatType.AIR_RAID, AlertLevel.RED, (), None, T0, T0, None, "x"
    )
    projection = Projection(Seq(1), [live])
    seq = 1
    for alert in alerts:
        declared, cleared = history_events(alert)
        assert (declared.type, declared.at, declared.alert.ended_at) == (
            EventType.DECLARED,
            alert.started_at,
            None,
        )
        assert (cleared.type, cleared.at, cleared.alert.ended_at) == (
            EventType.CLEARED,
            alert.ended_at,
            alert.ended_at,
        )
        assert declared.issuer == cleared.alert.issuer == "history:consolidated"
        message = declared.alert.message
        assert message is not None and f"({alert.subalerts} merged)" in (message.en or "")
        for pending in (declared, cleared):
            seq += 1
            projection.apply(Event.committed(Seq(seq), pending))
    assert [a.id for a in projection.active()] == ["live"]
    official = merge_overlaps([rec(LVIV, 0, 1)], Source.OFFICIAL)[0][0]
    assert history_events(official)[0].alert.message is None


def test_a_days_replay_declares_what_runs_at_its_start_and_leaves_what_runs_past_its_end() -> None:
    alerts, _ = merge_overlaps(
        [
            rec(LVIV, -2, 1),  # running at the start
            rec(KYIV_CITY, 1, 2),  # declared as Lviv is cleared: the clear comes first
            rec(KHARKIV, 1, 30),  # running past the end
            rec(LVIV, 25, 26),  # the next day
            rec(LVIV, -5, -4),  # the day before
        ],
        Source.OFFICIAL,
    )
    steps = replay_steps(alerts, T0, T0 + 24 * H)
    shown = [
        ((s.at - T0) / H, [a.region_id for a in s.clear], [a.region_id for a in s.declare])
        for s in steps
    ]
    assert shown == [
        (0, [], [LVIV]),
        (1, [LVIV], [KHARKIV, KYIV_CITY]),
        (2, [KYIV_CITY], []),
    ]
    peak = busiest(steps)
    assert peak is not None and (peak.at, peak.active) == (T0 + H, 2)
