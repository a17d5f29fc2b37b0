"""The one Last-Modified / If-Modified-Since rule: a change is never hidden behind a 304."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tryvoha.protocol import http_dates

T0 = datetime(2024, 11, 13, 4, 47, tzinfo=UTC)


moments = st.datetimes(
    min_value=datetime(2022, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)


@given(first=moments, gap=st.timedeltas(timedelta(0), timedelta(seconds=3)), late=st.floats(0, 20))
def test_a_later_change_is_never_answered_not_modified(
    first: datetime, gap: timedelta, late: float
) -> None:
    """A client that got the answer current since `first`, at any moment after it, and
    sends its Last-Modified back after a later change, gets the new answer. (The later
    change was not yet seen when the client was served: it is later than that, or was
    on its way from another process, which takes less than SETTLE.)"""
    served_at = first + timedelta(seconds=late)
    tick = timedelta(microseconds=1)
    second = max(first + gap, served_at - http_dates.SETTLE) + tick
    header = http_dates.last_modified(first, served_at)
    assert not http_dates.not_modified(header, second)


@given(first=moments)
def test_an_unchanged_answer_is_not_modified_once_settled(first: datetime) -> None:
    header = http_dates.last_modified(first, first + timedelta(seconds=7))
    assert http_dates.not_modified(header, first)
    assert email.utils.parsedate_to_datetime(header) > first


def test_not_modified_ignores_nonsense() -> None:
    assert not http_dates.not_modified(None, T0)
    assert not http_dates.not_modified("yesterday", T0)
    assert http_dates.not_modified("Wed, 13 Nov 2024 04:47:01 GMT", T0)
