"""Webhooks' pure rules: the retry schedule, what follows an attempt, which events an
endpoint is sent; and the wire form of a delivery, checked with the `standardwebhooks`
package's own verifier."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.conftest import KHARKIV, KYIV_CITY, LVIV
from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.domain.webhooks import (
    JITTER,
    EventFilter,
    RetrySchedule,
    Verdict,
    event_filter,
    next_step,
)
from tryvoha.protocol.webhooks import message_id, new_secret, signed_headers

DEFAULT = "5s,30s,2m,10m,30m,1h,3h,6h,12h"


def test_the_default_schedule_reads_and_prints_as_written() -> None:
    schedule = RetrySchedule.parse(DEFAULT)
    assert schedule.delays == (5, 30, 120, 600, 1800, 3600, 10800, 21600, 43200)
    assert str(schedule) == DEFAULT
    assert RetrySchedule.parse("0.2s, 500ms,1s").delays == (0.2, 0.5, 1.0)
    assert str(RetrySchedule.parse("0.2s,0.5s,1s")) == "200ms,500ms,1s"
    assert RetrySchedule.parse("none").delays == ()


@pytest.mark.parametrize("text", ["5", "5 seconds", "0s", "-1s", "8d", "5s,,5s", "1y"])
def test_a_bad_schedule_is_refused_naming_the_part(text: str) -> None:
    with pytest.raises(ValueError):
        RetrySchedule.parse(text)


def test_a_2xx_delivers_a_410_disables_anything_else_is_retried_then_suspends() -> None:
    schedule = RetrySchedule.parse("1s,10s")
    assert next_step(200, 0, schedule, 0.5).verdict is Verdict.DELIVERED
    assert next_step(204, 2, schedule, 0.5).verdict is Verdict.DELIVERED
    assert next_step(410, 0, schedule, 0.5).verdict is Verdict.DISABLE
    for status in (None, 301, 400, 404, 429, 500, 503):
        first = next_step(status, 0, schedule, 0.5)
        assert (first.verdict, first.delay) == (Verdict.RETRY, 1.0)
        assert next_step(status, 1, schedule, 0.5).delay == 10.0
        assert next_step(status, 2, schedule, 0.5).verdict is Verdict.SUSPEND
    assert next_step(500, 0, RetrySchedule(()), 0.5).verdict is Verdict.SUSPEND


@given(st.floats(0, 1, exclude_max=True), st.integers(0, 8))
def test_jitter_stays_within_a_fifth_of_the_delay(draw: float, failures: int) -> None:
    schedule = RetrySchedule.parse(DEFAULT)
    delay = next_step(None, failures, schedule, draw).delay
    base = schedule.delays[failures]
    assert base * (1 - JITTER) <= delay <= base * (1 + JITTER)


def _matches(
    tree: RegionTree, f: EventFilter, region: RegionId, threat: str, historical: bool = False
) -> bool:
    return f.matches(tree.bit(region), threat, historical)


def test_regions_match_as_on_the_stream_and_history_never(tree: RegionTree) -> None:
    hromada = next(r for r in tree.descendants(LVIV) if tree.get(r).level.value == "hromada")
    lviv = event_filter(tree, [LVIV], None)
    assert _matches(tree, lviv, LVIV, "air_raid")
    assert _matches(tree, lviv, hromada, "air_raid")  # below it
    assert _matches(tree, lviv, RegionId("UA"), "air_raid")  # the country it lies in
    assert not _matches(tree, lviv, KYIV_CITY, "air_raid")
    below = event_filter(tree, [hromada], None)
    assert _matches(tree, below, LVIV, "air_raid")  # the oblast it lies in
    assert not _matches(tree, below, KHARKIV, "air_raid")
    everything = event_filter(tree, None, None)
    assert _matches(tree, everything, KHARKIV, "nuclear")
    assert not _matches(tree, everything, KHARKIV, "air_raid", historical=True)
    shelling = event_filter(tree, None, [ThreatType.ARTILLERY_SHELLING])
    assert _matches(tree, shelling, KHARKIV, "artillery_shelling")
    assert not _matches(tree, shelling, KHARKIV, "air_raid")


def test_a_delivery_verifies_with_the_standardwebhooks_package() -> None:
    secret = new_secret(bytes(range(32)))
    assert secret.startswith("whsec_")
    body = b'{"seq":42,"type":"alert.declared"}'
    at = datetime.now(UTC)
    msg = message_id("wh_0123456789abcdef", 42)
    headers = dict(signed_headers(Webhook(secret), msg, at, body))
    assert headers["webhook-id"] == msg == message_id("wh_0123456789abcdef", 42)
    assert Webhook(secret).verify(body, headers) == {"seq": 42, "type": "alert.declared"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret(bytes(32))).verify(body, headers)
    assert message_id("wh_a", 1) != message_id("wh_b", 1) != message_id("wh_a", 2)
