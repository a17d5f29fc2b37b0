from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from tryvoha.domain.alerts import (
    Alert,
    AlertId,
    AlertLevel,
    Message,
    Threat,
    ThreatKind,
    ThreatType,
)
from tryvoha.domain.events import Event, EventType, Seq
from tryvoha.domain.regions import RegionId
from tryvoha.protocol.sse import sse_frame, ws_text_frame
from tryvoha.protocol.wire import decode_event, encode_event, format_time, parse_time

moments = st.datetimes(
    min_value=datetime(2022, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
texts = st.one_of(st.none(), st.text(min_size=1, max_size=40))

alerts = st.builds(
    Alert,
    id=st.text("0123456789abcdef", min_size=1, max_size=26).map(AlertId),
    region_id=st.sampled_from(["UA46000000000026241", "UA80000000000093317"]).map(RegionId),
    threat=st.sampled_from(list(ThreatType)),
    level=st.sampled_from(list(AlertLevel)),
    threats=st.lists(
        st.builds(Threat, st.sampled_from(list(ThreatKind)), moments, texts), max_size=3
    ).map(tuple),
    message=st.one_of(st.none(), st.builds(Message, texts, texts)),
    started_at=moments,
    updated_at=moments,
    ended_at=st.one_of(st.none(), moments),
    issuer=st.text(min_size=1, max_size=30),
)


@given(
    st.integers(1, 2**53), st.sampled_from(list(EventType)), moments, st.text(min_size=1), alerts
)
def test_events_survive_the_wire(
    seq: int, kind: EventType, at: datetime, issuer: str, alert: Alert
) -> None:
    event = Event(Seq(seq), kind, at, issuer, alert)
    assert decode_event(encode_event(event)) == event


def test_times_are_rfc3339_utc_with_milliseconds() -> None:
    moment = datetime(2024, 11, 13, 5, 12, 3, 45_000, tzinfo=UTC)
    assert format_time(moment) == "2024-11-13T05:12:03.045Z"
    assert parse_time("2024-11-13T07:12:03.045+02:00") == moment


def test_frames() -> None:
    assert (
        sse_frame(7, "alert.declared", b'{"a":1}')
        == b'id: 7\nevent: alert.declared\ndata: {"a":1}\n\n'
    )
    assert ws_text_frame(b"hi") == b"\x81\x02hi"
    assert ws_text_frame(b"x" * 200)[:4] == b"\x81\x7e\x00\xc8"
    assert ws_text_frame(b"x" * 70000)[:2] == b"\x81\x7f"
